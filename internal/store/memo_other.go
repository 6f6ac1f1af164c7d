//go:build !linux

package store

import "io/fs"

// idOf gives no identity outside Linux: the memo then remembers nothing,
// and every pass reads every record, as a command of its own does.
func idOf(fs.FileInfo) (fileID, bool) { return fileID{}, false }
