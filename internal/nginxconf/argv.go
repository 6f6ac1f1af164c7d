package nginxconf

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// DumpCommand turns renewd's nginx.test command ([nginx, -t], or the
// panel's [/www/server/nginx/sbin/nginx, -t, -c, FILE]) into the command
// that prints the configuration nginx reads: -t becomes -T, and -q keeps
// nginx's own messages out of the output. Any -p, -c and -g are kept, so
// the dump is of the same nginx the test command tests.
func DumpCommand(test []string) ([]string, error) {
	i := slices.Index(test, "-t")
	if len(test) == 0 || i < 0 {
		return nil, fmt.Errorf("nginx.test %s has no -t argument, so it is not nginx's own test; set it to [nginx, -t] (with the -p and -c you use) so renewd can ask nginx for its configuration", render(test))
	}
	out := slices.Clone(test)
	out[i] = "-T"
	if !slices.Contains(out, "-q") {
		out = append(out, "-q")
	}
	return out, nil
}

// MainFile returns the main configuration file a command line makes nginx
// read: its -c argument, made absolute against -p's prefix when relative.
// It returns "" when there is no -c (nginx's compiled-in --conf-path
// applies; see ConfPath).
func MainFile(argv []string) string {
	var conf, prefix string
	for i := 1; i+1 < len(argv); i++ {
		switch argv[i] {
		case "-c":
			conf = argv[i+1]
		case "-p":
			prefix = argv[i+1]
		}
	}
	switch {
	case conf == "":
		return ""
	case filepath.IsAbs(conf):
		return filepath.Clean(conf)
	case prefix != "":
		return filepath.Join(prefix, conf)
	}
	abs, err := filepath.Abs(conf)
	if err != nil {
		return conf
	}
	return abs
}

var confPathRE = regexp.MustCompile(`--conf-path=(\S+)`)

// ConfPath returns the compiled-in main configuration file from the
// output of `nginx -V`.
func ConfPath(versionOutput []byte) (string, error) {
	m := confPathRE.FindSubmatch(versionOutput)
	if m == nil {
		return "", errors.New("nginx -V names no --conf-path")
	}
	return string(m[1]), nil
}

func render(argv []string) string { return "[" + strings.Join(argv, " ") + "]" }
