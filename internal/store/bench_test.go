package store

import (
	"fmt"
	"testing"
	"time"
)

// benchRecords are n records as a pass in which every certificate was
// renewed leaves them: dates, serial, ARI, a version.
func benchRecords(n int) []*Record {
	recs := make([]*Record, n)
	nb := time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)
	na := nb.Add(90 * 24 * time.Hour)
	for i := range recs {
		recs[i] = &Record{Name: fmt.Sprintf("c%05d", i), Domains: []string{fmt.Sprintf("c%05d.bench.example.com", i)},
			Version: "20261121T160000Z-001", DeployedVersion: "20261121T160000Z-001", Serial: fmt.Sprintf("%032x", i),
			NotBefore: &nb, NotAfter: &na, Issuer: "Bench Intermediate", RenewTime: &nb, LastAttempt: &nb,
			ARI: &ARI{WindowStart: &na, WindowEnd: &na, SelectedTime: &na, NextPoll: &nb}}
	}
	return recs
}

// BenchmarkSaveRecords10000 is the state I/O a pass in which 10,000
// certificates are due pays to record them: one batch (docs/performance.md
// has the target: under 2 s with the reads).
func BenchmarkSaveRecords10000(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	recs := benchRecords(10000)
	b.ResetTimer()
	for range b.N {
		if err := s.SaveRecords(recs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecords10000 is the read of 10,000 records at a pass's start.
func BenchmarkRecords10000(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SaveRecords(benchRecords(10000)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		recs, _, err := s.Records()
		if err != nil || len(recs) != 10000 {
			b.Fatalf("%d records, %v", len(recs), err)
		}
	}
}
