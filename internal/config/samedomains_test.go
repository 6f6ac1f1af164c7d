package config

import "testing"

func TestSameDomains(t *testing.T) {
	for _, tc := range []struct {
		a, b []string
		want bool
	}{
		{[]string{"a.example.com", "www.a.example.com"}, []string{"WWW.a.example.com", " a.example.com"}, true},
		{[]string{"a.example.com", "a.example.com"}, []string{"a.example.com"}, true},
		{[]string{"a.example.com"}, []string{"a.example.com", "b.example.com"}, false},
		{[]string{"*.example.com"}, []string{"example.com"}, false},
		{nil, nil, true},
	} {
		if got := SameDomains(tc.a, tc.b); got != tc.want {
			t.Errorf("SameDomains(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
