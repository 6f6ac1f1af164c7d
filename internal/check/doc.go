// Package check judges a served or stored certificate chain the way strict
// TLS clients do, and says in plain words what is wrong with it.
//
// It exists for the error people meet in WeChat mini-programs, Android apps,
// curl and Go clients, ERR_CERT_AUTHORITY_INVALID, when the same site works
// in a desktop browser: browsers fetch a missing intermediate from the
// leaf's AIA URL, strict clients do not. check never fetches anything, so a
// chain it calls complete is complete for those clients too.
//
// The judging is pure: Judge and JudgeStored take the certificates as sent
// (or stored), the names, the trust roots and the time, and return a Report
// of Findings. Server is the network half: it connects, probes which TLS
// versions the server accepts and judges what it sent. renewd's `check`
// command uses it; the deploy step's own verification after an nginx reload
// (internal/deploy) checks the same chain rule through chain.Verify, and
// the serial, without the protocol probes.
package check
