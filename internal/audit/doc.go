// Package audit judges every certificate nginx is configured to serve:
// for each server block and each of its ssl_certificate directives, the
// files as renewd's check judges a stored chain (leaf-only, wrong order,
// expired, a key that is not the certificate's), what nginx actually
// serves for each server_name, and whether renewd manages the file. Each
// verdict comes with the file and line of the directive and what to
// change, for `renewd audit nginx`.
//
// The judging is check's (check.JudgeStored for the files, check.Server
// for what is served), so audit, the served-chain proof after a deploy and
// `renewd check` agree on what "complete" means.
package audit
