// Package nginxconf reads nginx's configuration the way nginx itself does,
// far enough to answer one question: which server blocks use which
// certificate and key files, and where each directive was written.
//
// The configuration comes either from the output of `nginx -T` (every file
// nginx read, each after a "# configuration file PATH:" line) or, when
// nginx refuses to dump it (a key that no longer matches its certificate
// makes `nginx -T` fail), from the files on disk. Includes are followed in
// both cases, relative paths are resolved against the directory of the
// main file as nginx does, and every directive keeps its file and line so
// that a person can find and fix it.
//
// Limits: nginx variables in a path ($ssl_server_name) cannot be resolved
// and are reported as such; Lua blocks are skipped, not parsed; the mail
// module's servers are not listed.
package nginxconf
