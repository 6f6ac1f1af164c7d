package config

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := envMap(map[string]string{"A": "alpha", "B_2": "b", "EMPTY": "", "TRICKY": `p@ss:"w'o#rd ${A} $$`})
	tests := []struct {
		desc, in, want string
		unset          []string
	}{
		{desc: "no dollar", in: "plain", want: "plain"},
		{desc: "whole value", in: "${A}", want: "alpha"},
		{desc: "inside text", in: "x-${A}-${B_2}-y", want: "x-alpha-b-y"},
		{desc: "empty but set", in: "[${EMPTY}]", want: "[]"},
		{desc: "double dollar is a literal dollar", in: "pa$$word", want: "pa$word"},
		{desc: "escaped reference", in: "$${A}", want: "${A}"},
		{desc: "escape then reference", in: "$$${A}", want: "$alpha"},
		{desc: "bare $VAR is literal", in: "$A and $", want: "$A and $"},
		{desc: "unclosed brace is literal", in: "${A", want: "${A"},
		{desc: "not a name is literal", in: "${1A} ${A-b} ${}", want: "${1A} ${A-b} ${}"},
		{desc: "value is not expanded again", in: "${TRICKY}", want: `p@ss:"w'o#rd ${A} $$`},
		{desc: "unset listed once each", in: "${X}${Y}${X}", want: "", unset: []string{"X", "Y"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, unset := expand(tt.in, env)
			if got != tt.want || strings.Join(unset, ",") != strings.Join(tt.unset, ",") {
				t.Errorf("expand(%q) = %q, %q; want %q, %q", tt.in, got, unset, tt.want, tt.unset)
			}
		})
	}
}
