// Package check judges a served, stored or given certificate chain the way
// strict TLS clients do, and says in plain words what is wrong with it and
// what to change.
//
// It exists for the error people meet in WeChat mini-programs, Android apps,
// curl and Go clients, ERR_CERT_AUTHORITY_INVALID, when the same site works
// in a desktop browser: browsers fetch a missing intermediate from the
// leaf's AIA URL, strict clients do not. check never fetches anything, so a
// chain it calls complete is complete for those clients too.
//
// The chain itself is judged by chain.Analyze, the one judge renewd uses
// before storing a certificate, after deploying it and here; this package
// adds what only a server shows (names asked for, stapled OCSP, protocols
// and cipher suites, every certificate a server can send) and turns the
// verdicts into a Report of Findings. Judge, JudgeStored and JudgeFile are
// pure: certificates, names, trust roots and time in, a Report out. Server
// is the network half: it probes what a server sends for each kind of
// certificate and TLS version, and judges each chain. Plan and Runner turn
// `renewd check`'s arguments into targets and reports. The clients the
// judgements were verified against are listed in docs/check.md.
package check
