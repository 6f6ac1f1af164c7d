// Package importer takes over certificates that certbot, acme.sh or the
// BaoTa (aaPanel) panel manage: it reads the other tool's renewal settings
// and its current certificate, maps them to renewd's configuration (one
// domains.d file per certificate) and adopts the current certificate as
// the live version without ordering, after the checks renewd applies to
// any certificate it stores.
//
// Reading is pure of side effects: a Plan says what would be written and
// adopted, and why anything is refused. Apply writes the plan, under
// renewd's storage lock, all or nothing per certificate. docs/migrating.md
// describes what each import carries over and what it does not.
package importer
