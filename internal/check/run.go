package check

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/renewd/renewd/internal/readfile"
)

// LiveReader reads a configured certificate's live files.
//
// Contract: Live returns the live fullchain and private key of the named
// certificate, and the fullchain's path for messages; an error wrapping
// ErrNoLive when none has been issued yet. It must change nothing on disk:
// `renewd check` is a read-only command.
type LiveReader interface {
	Live(name string) (fullchain, key []byte, file string, err error)
}

// ErrNoLive: a configured certificate has no live version yet.
var ErrNoLive = errors.New("no live certificate")

// Runner judges planned targets.
type Runner struct {
	Options ServerOptions
	// Live reads stored certificates; nil when there is no configuration
	// (then Plan makes no stored targets).
	Live LiveReader
	// Parallel bounds the served checks run at once; 0 means 8.
	Parallel int
}

// maxFileSize bounds a FILE or key file read: a chain is a few KiB, and a
// path to /dev/zero must not exhaust memory.
const maxFileSize = 1 << 20

// Run judges targets and returns one Report each, in order. Stored and
// file targets go first (they are quick, and a certificate's served check
// needs its stored serial); served ones run in parallel.
func (k *Runner) Run(ctx context.Context, targets []Target) []*Report {
	out := make([]*Report, len(targets))
	serials := map[string]string{}
	for i, t := range targets {
		switch t.Kind {
		case StoredTarget:
			out[i] = k.stored(t)
			if len(out[i].Certificates) > 0 {
				serials[t.Name] = out[i].Certificates[0].Serial
			}
		case FileTarget:
			out[i] = k.file(t)
		}
	}
	parallel := k.Parallel
	if parallel <= 0 {
		parallel = 8
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, t := range targets {
		if t.Kind != ServedTarget {
			continue
		}
		opts := k.Options
		if t.SerialOf != "" {
			opts.ExpectSerial = serials[t.SerialOf]
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := Server(ctx, t.Address, t.SNI, opts)
			r.Target = t.Name
			out[i] = r
		})
	}
	wg.Wait()
	return out
}

// stored judges a configured certificate's live fullchain and key.
func (k *Runner) stored(t Target) *Report {
	if k.Live == nil {
		return filesFailure(t.Name, "", Stored, "no configuration to read %s's files from", t.Name)
	}
	fullchain, key, file, err := k.Live.Live(t.Name)
	switch {
	case errors.Is(err, ErrNoLive):
		return filesFailure(t.Name, file, Stored, "no live certificate: renewd has not issued %s yet (renewd renew --now %s)", t.Name, t.Name)
	case err != nil:
		return filesFailure(t.Name, file, Stored, "%v", err)
	}
	r := JudgeStored(fullchain, key, t.Domains, k.Options.Options)
	r.Target, r.File = t.Name, file
	return r
}

// file judges a chain file and, when given, its key.
func (k *Runner) file(t Target) *Report {
	data, err := readBounded(t.File)
	if err != nil {
		return filesFailure(t.Name, t.File, File, "%v", err)
	}
	var key []byte
	if t.KeyFile != "" {
		if key, err = readBounded(t.KeyFile); err != nil {
			return filesFailure(t.Name, t.File, File, "--key: %v", err)
		}
	}
	r := JudgeFile(data, key, k.Options.Options)
	r.Target, r.File = t.Name, t.File
	return r
}

// readBounded reads a chain or key file named on the command line: a
// regular file of at most maxFileSize bytes, never a FIFO or a device.
func readBounded(name string) ([]byte, error) {
	return readfile.Bounded(name, maxFileSize)
}

func filesFailure(name, file string, src Source, format string, args ...any) *Report {
	return &Report{Target: name, File: file, Source: src, Findings: []Finding{
		{Check: Files, Severity: Fail, Message: fmt.Sprintf(format, args...)},
	}}
}
