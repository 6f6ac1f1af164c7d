package config

// Nearest returns the candidate closest to name, for "did you mean ...?"
// after a misspelled key or provider: the one fewest edits away (a
// letter added, dropped, changed, or two neighbours swapped), when that
// is at most 1 edit for names of 3 or 4 characters and at most 2 for
// longer ones. "" when none is that close, or name is itself a candidate.
// Ties go to the earlier candidate.
func Nearest(name string, candidates []string) string {
	limit := 0
	switch {
	case len(name) >= 5:
		limit = 2
	case len(name) >= 3:
		limit = 1
	}
	best, bestD := "", limit+1
	for _, c := range candidates {
		if c == name {
			return ""
		}
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b
// (Levenshtein with swaps of neighbours), over bytes: the names compared
// are ASCII.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
