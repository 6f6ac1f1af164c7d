package chain

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
)

const (
	// maxAIALevels bounds how many issuers Build fetches one above the other;
	// real WebPKI chains have at most two or three intermediates.
	maxAIALevels = 4
	// maxPathLen bounds the path walk; it only matters for hostile input.
	maxPathLen = 10
)

// Build turns what a CA returned into a Bundle renewd may store, or says why
// it may not. certs is the CA's answer: leaf first, then issuers in any
// order, possibly with a root or unrelated extra certificates. key is the
// private key the order was made with and domains the requested names.
//
// It checks, in this order: the key matches the leaf (ErrKeyMismatch); the
// leaf's DNS (and IP) SANs equal domains as a set, case-insensitively, listing
// missing and extra names (ErrNameMismatch); then it orders the issuers by
// signature from the leaf upward, preferring the certificates the CA sent,
// and drops roots and certificates not on the path. If the path does not
// reach a trusted root, it fetches the last certificate's issuer from its AIA
// caIssuers URLs with opts.Fetcher (at most 4 levels) and tries again; the
// leaf-only answer that breaks strict clients is completed this way or fails
// with *IncompleteError. Finally the result passes Verify, so a returned
// Bundle is complete and correctly ordered. Its Repairs say what Build had
// to fix in the CA's answer (see Bundle.Repairs).
func Build(ctx context.Context, certs []*x509.Certificate, key crypto.Signer, domains []string, opts Options) (*Bundle, error) {
	if len(certs) == 0 {
		return nil, errors.New("build chain: no certificates")
	}
	if err := checkNonNil(certs); err != nil {
		return nil, fmt.Errorf("build chain: %w", err)
	}
	leaf := certs[0]
	if !KeyMatches(leaf, key) {
		return nil, keyMismatch(leaf, key)
	}
	if err := matchNames(leaf, domains); err != nil {
		return nil, err
	}
	f := newPathFinder(leaf, certs[1:], opts)
	for level := 0; ; level++ {
		if chain, v := f.verified(); chain != nil {
			return f.finish(chain, certs, v)
		}
		path, missing := f.walk()
		if !missing || opts.Fetcher == nil {
			// Nothing to fetch: let Verify say precisely what is wrong.
			return f.finish(append([]*x509.Certificate{leaf}, path...), certs, nil)
		}
		last := leaf
		if len(path) > 0 {
			last = path[len(path)-1]
		}
		if err := f.fetchIssuer(ctx, last, level); err != nil {
			return nil, err
		}
	}
}

// pathFinder holds the candidate issuers for one Build.
type pathFinder struct {
	leaf     *x509.Certificate
	pool     []*x509.Certificate // candidate issuers, without duplicates or the leaf
	seen     map[string]bool     // DER of leaf and pool
	supplied map[string]bool     // DER of what the caller passed, to prefer the CA's chain
	fetched  map[string]string   // DER of what AIA supplied -> the URL
	opts     Options
}

func newPathFinder(leaf *x509.Certificate, issuers []*x509.Certificate, opts Options) *pathFinder {
	f := &pathFinder{
		leaf:     leaf,
		seen:     map[string]bool{string(leaf.Raw): true},
		supplied: map[string]bool{},
		fetched:  map[string]string{},
		opts:     opts,
	}
	for _, c := range issuers {
		f.supplied[string(c.Raw)] = true
		f.add(c)
	}
	return f
}

// add puts c into the pool unless it is already there.
func (f *pathFinder) add(c *x509.Certificate) {
	if c == nil || f.seen[string(c.Raw)] {
		return
	}
	f.seen[string(c.Raw)] = true
	f.pool = append(f.pool, c)
}

// verified returns leaf + intermediates of the best chain x509.Verify finds
// from the whole pool, or nil if there is none, and that verification, for
// Verify to reuse (see verification). x509 handles cross-signed and
// alternative paths; "best" keeps as much of what the CA sent as possible,
// then prefers the shortest chain.
func (f *pathFinder) verified() ([]*x509.Certificate, *verification) {
	inter := x509.NewCertPool()
	v := &verification{leaf: f.leaf, roots: f.opts.Roots, now: f.opts.now()}
	for _, c := range f.pool {
		if !isSelfSigned(c) {
			inter.AddCert(c)
			v.inter.add(c)
		}
	}
	opts := f.opts
	opts.Now = v.now
	chains, err := f.leaf.Verify(opts.verifyOptions(inter))
	if err != nil || len(chains) == 0 {
		return nil, nil
	}
	best := chains[0]
	for _, ch := range chains[1:] {
		if f.better(ch, best) {
			best = ch
		}
	}
	if len(best) > 1 {
		best = best[:len(best)-1] // the trusted root
	}
	return best, v
}

func (f *pathFinder) better(a, b []*x509.Certificate) bool {
	sa, sb := f.suppliedCount(a), f.suppliedCount(b)
	if sa != sb {
		return sa > sb
	}
	return len(a) < len(b)
}

func (f *pathFinder) suppliedCount(chain []*x509.Certificate) int {
	n := 0
	for _, c := range chain[1 : len(chain)-1] {
		if f.supplied[string(c.Raw)] {
			n++
		}
	}
	return n
}

// walk follows issuers from the leaf through the pool, for diagnosis and to
// find where to fetch from when x509 found no chain. The path includes a
// self-signed root if one is reached. missing reports that the last
// certificate's issuer is neither in the pool nor among the trusted roots:
// the gap AIA can close.
func (f *pathFinder) walk() (path []*x509.Certificate, missing bool) {
	cur := f.leaf
	used := map[*x509.Certificate]bool{}
	for !isSelfSigned(cur) && len(path) < maxPathLen {
		next := f.issuerOf(cur, used)
		if next == nil {
			return path, f.issuerUnknown(cur)
		}
		used[next] = true
		path = append(path, next)
		cur = next
	}
	return path, false
}

// issuerOf picks cur's issuer from the pool, preferring one that is valid
// now, then one that is not a root (a cross-signed intermediate may lead on
// to a trusted root where the self-signed twin does not).
func (f *pathFinder) issuerOf(cur *x509.Certificate, used map[*x509.Certificate]bool) *x509.Certificate {
	now := f.opts.now()
	var best *x509.Certificate
	bestScore := -1
	for _, c := range f.pool {
		if used[c] || issuedBy(cur, c) != nil {
			continue
		}
		score := 0
		if !now.Before(c.NotBefore) && !now.After(c.NotAfter) {
			score += 2
		}
		if !isSelfSigned(c) {
			score++
		}
		if score > bestScore {
			best, bestScore = c, score
		}
	}
	return best
}

// issuerUnknown reports whether c's issuer is absent from the trusted roots
// too. If c verifies on its own, or fails for another reason (it expired),
// fetching its issuer would not help.
func (f *pathFinder) issuerUnknown(c *x509.Certificate) bool {
	_, err := c.Verify(x509.VerifyOptions{
		Roots:       f.opts.Roots,
		CurrentTime: f.opts.now(),
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	var unknown x509.UnknownAuthorityError
	return errors.As(err, &unknown)
}

// fetchIssuer fetches last's issuer through its AIA caIssuers URLs and adds
// what it gets to the pool. It returns *IncompleteError when it cannot.
func (f *pathFinder) fetchIssuer(ctx context.Context, last *x509.Certificate, level int) error {
	urls := last.IssuingCertificateURL
	e := &IncompleteError{Subject: Describe(last), Issuer: last.Issuer.String(), AIA: urls}
	if len(urls) == 0 {
		return e
	}
	if level >= maxAIALevels {
		e.Err = fmt.Errorf("not fetched: already fetched %d issuers, the most a chain may need", maxAIALevels)
		return e
	}
	for _, u := range urls {
		if err := ctx.Err(); err != nil {
			e.Err = fmt.Errorf("fetch failed: %w", err)
			return e
		}
		got, err := f.opts.Fetcher.Fetch(ctx, u)
		if err != nil {
			e.Err = fmt.Errorf("fetch failed: %w", err)
			continue
		}
		found := false
		for _, c := range got {
			if c != nil && issuedBy(last, c) == nil {
				found = true
			}
			if c != nil && !f.seen[string(c.Raw)] {
				f.fetched[string(c.Raw)] = u
			}
			f.add(c)
		}
		if found {
			return nil
		}
		e.Err = fmt.Errorf("%s served %d certificate(s), none of them issued %q", u, len(got), Describe(last))
	}
	return e
}

// finish verifies chain (leaf first, in path order) and records on the
// Bundle what had to change in sent, the CA's answer, to get it. v is the
// x509 verification chain came from, if it did: Verify then judges at
// v's time, so that its cross-check asks x509 the same question and takes
// v's answer.
func (f *pathFinder) finish(chain, sent []*x509.Certificate, v *verification) (*Bundle, error) {
	opts := f.opts
	if v != nil {
		opts.Now = v.now
	}
	b, err := verify(chain, opts, v)
	if err != nil {
		return nil, err
	}
	b.Repairs = repairs(b, sent, f.fetched)
	return b, nil
}

// repairs lists, for a person, how the stored chain differs from what the
// CA sent: issuers fetched through AIA, the intermediates reordered, a
// root or other certificates dropped. A CA whose answer needs any of this
// is misconfigured, and an operator should know even though renewd coped.
func repairs(b *Bundle, sent []*x509.Certificate, fetched map[string]string) []string {
	var out []string
	kept := map[string]bool{}
	var sentOrder []string
	for _, c := range b.Intermediates {
		kept[string(c.Raw)] = true
		if u, ok := fetched[string(c.Raw)]; ok {
			out = append(out, fmt.Sprintf("completed through AIA: the CA sent no %q, fetched it from %s", Describe(c), u))
		}
	}
	for _, c := range sent[1:] {
		switch {
		case kept[string(c.Raw)]:
			sentOrder = append(sentOrder, Describe(c))
		case isSelfSigned(c):
			out = append(out, fmt.Sprintf("dropped the root %q the CA sent (clients have it already)", Describe(c)))
		default:
			out = append(out, fmt.Sprintf("dropped %q, which the CA sent but which is not on the path to a trusted root", Describe(c)))
		}
	}
	var stored []string
	for _, c := range b.Intermediates {
		if _, ok := fetched[string(c.Raw)]; !ok {
			stored = append(stored, Describe(c))
		}
	}
	if !slices.Equal(dedupe(sentOrder), stored) {
		out = append(out, fmt.Sprintf("reordered: the CA sent the intermediates as %s; stored in path order %s",
			strings.Join(sentOrder, ", "), strings.Join(stored, ", ")))
	}
	return out
}

// dedupe drops repeated names, keeping the first of each.
func dedupe(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
