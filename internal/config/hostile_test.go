package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestHostileFilesNotEchoed: a domains.d entry that is some other file (a
// symlink to /etc/shadow, a private key, a binary) gets one error that
// names the file and shows none of its content; a file name with a
// newline cannot split an error line.
func TestHostileFilesNotEchoed(t *testing.T) {
	const shadow = "root:$6$abcdefgh$Zm9vYmFyYmF6cXV4:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"
	const keyPEM = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIPrivateKeyMaterialNotToBeShown0123456789abcdef\n-----END EC PRIVATE KEY-----\n"
	tests := []struct {
		desc    string
		content string
		secret  []string // parts of the content that must not be shown
		want    string   // the one error, relative to the directory
	}{
		{desc: "a link to a shadow file", content: shadow, secret: []string{"root", "$6$", "daemon", "19000"},
			want: "domains.d/evil.yaml: not a renewd file: none of its keys is one of the certificate settings (domains, challenge, deploy...); its content is not shown. Is it the right file (a symbolic link to something else)?"},
		{desc: "a link to a private key", content: keyPEM, secret: []string{"BEGIN", "PrivateKeyMaterial"},
			want: "domains.d/evil.yaml:1: want a mapping with keys name, domains, canary, challenge, key_type, renew_before, deploy, got a string"},
		{desc: "an alias whose name is too long to be one", content: "domains: [*" + strings.Repeat("Zm9vYmFy", 9) + "]\n", secret: []string{"Zm9vYmFy"},
			want: "domains.d/evil.yaml:1: invalid YAML: an alias (*name) refers to no anchor (&name); the name is not shown"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"renewd.yaml": "", "domains.d/": "", "elsewhere/target": tt.content})
			if err := os.Symlink(filepath.Join(dir, "elsewhere", "target"), filepath.Join(dir, "domains.d", "evil.yaml")); err != nil {
				t.Fatal(err)
			}
			_, err := Load(filepath.Join(dir, "renewd.yaml"), Options{})
			got := errorLines(t, err, dir)
			diffLines(t, got, []string{tt.want})
			for _, s := range tt.secret {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("the error shows %q of the file:\n%v", s, err)
				}
			}
		})
	}
}

// TestUnknownKeysNotEchoed: in a file that is a certificate file, a typo
// is named, a key that is no name at all is not.
func TestUnknownKeysNotEchoed(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"renewd.yaml":      "",
		"domains.d/a.yaml": "domains: [a.example.com]\n" + httpChallenge + "domian: x\n\"root:$6$hash:19000\": \n",
	})
	_, err := Load(filepath.Join(dir, "renewd.yaml"), Options{})
	got := errorLines(t, err, dir)
	diffLines(t, got, []string{
		"domains.d/a.yaml:5: domian: unknown field; did you mean domains? valid: name, domains, canary, challenge, key_type, renew_before, deploy",
		"domains.d/a.yaml:6: a key that is not a setting name (not shown); valid: name, domains, canary, challenge, key_type, renew_before, deploy",
	})
}

func TestFileNameWithNewline(t *testing.T) {
	dir := writeTree(t, map[string]string{"renewd.yaml": "", "domains.d/new\nline.yaml": "domains: [a.example.com]\n" + httpChallenge})
	_, err := Load(filepath.Join(dir, "renewd.yaml"), Options{})
	if err == nil {
		t.Fatal("a name from a file name with a newline was accepted")
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, `"`+dir) {
			t.Errorf("error line %q does not start with the quoted file name", line)
		}
	}
	if !strings.Contains(err.Error(), `"`+dir+`/domains.d/new\nline.yaml":1: name:`) {
		t.Errorf("the file name is not quoted:\n%v", err)
	}
}

// TestFIFOConfigFile: a FIFO at renewd.yaml is refused at once, without
// blocking for a writer.
func TestFIFOConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "renewd.yaml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, Options{})
	diffLines(t, errorLines(t, err, dir), []string{"renewd.yaml: cannot read: not a regular file (a FIFO, a device or a directory); give the YAML file itself"})
}
