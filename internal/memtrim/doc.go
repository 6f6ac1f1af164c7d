// Package memtrim gives back to the kernel what an idle daemon holds but
// does not use (docs/performance.md, "Idle memory"): the free pages of the
// Go heap, and the pages of its own executable that starting up and the
// last renewal pass touched. renewd's binary carries every lego DNS
// provider and their SDKs; their package initialisers, and the kernel's
// fault-around of 64 KiB per page fault, leave tens of MiB of the binary
// mapped for the rest of the process's life. Trim drops them from the
// process's resident set; the kernel keeps them in its page cache while it
// has room, and the next pass faults back in what it uses.
package memtrim
