// Package chain decides whether a set of certificates is a complete, correctly
// ordered chain that a strict TLS client accepts, completes it through AIA
// caIssuers when it can, and says exactly what is wrong when it cannot.
//
// It exists because desktop browsers fetch a missing intermediate themselves
// and so hide a leaf-only deployment, while WeChat mini-programs, Android,
// curl, Java and Go clients fail with ERR_CERT_AUTHORITY_INVALID. renewd
// stores nothing that Build or Verify has not accepted.
//
// Certificates are numbered from 1 (the leaf) in every error message, the way
// a person counts blocks in a PEM file.
package chain
