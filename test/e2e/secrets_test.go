package e2e

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsMaskedEverywhere: a deploy hook given its token as an argument
// (${CDN_TOKEN}) that prints the token from its environment when it fails
// must not put it into any output, log line, file or message: renew's
// stdout and debug log, state, status and status --json, the webhook
// notification, and config check.
func TestSecretsMaskedEverywhere(t *testing.T) {
	t.Parallel()
	const token = "cdn-token-e2e-77f1c0"
	dir := t.TempDir()
	purge := filepath.Join(dir, "purge.sh")
	writeScript(t, purge, "echo \"purging with $1\"\n")
	failing := filepath.Join(dir, "fail.sh")
	writeScript(t, failing, "echo \"401 Unauthorized: token $CDN_TOKEN rejected\" >&2\nexit 1\n")
	hook := newWebhook(t)
	s := newSite(t, siteOpts{deploy: "  hooks:\n    - [" + purge + ", \"--token=${CDN_TOKEN}\"]\n    - [" + failing + "]\n"}, "secret.hook.example.com")
	s.w.appendGlobal(notifyConfig(webhookTarget("ops", hook.URL)))
	s.w.env = append(s.w.env, "CDN_TOKEN="+token)

	var outputs []string
	res := s.w.renewd("--log-level", "debug", "renew", "--now")
	if res.code != 1 || !strings.Contains(res.stderr, "deploy hook failed") {
		t.Fatalf("want exit 1 with the hook's failure, got %s", res)
	}
	if !strings.Contains(res.stdout, "--token=********") || !strings.Contains(res.stdout+res.stderr, "token ******** rejected") {
		t.Errorf("the masked hook argument or output is missing:\n%s", res)
	}
	outputs = append(outputs, res.stdout, res.stderr)
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"config", "check"}} {
		r := s.w.renewd(args...)
		outputs = append(outputs, r.stdout, r.stderr)
		if args[0] == "config" && !strings.Contains(r.stdout, "--token=********") {
			t.Errorf("config check does not show the masked hook argument:\n%s", r.stdout)
		}
	}
	for i, out := range outputs {
		if strings.Contains(out, token) {
			t.Errorf("output %d shows the token:\n%s", i, out)
		}
	}
	if st := s.w.state()["site"]; !strings.Contains(st["last_error"].(string), "token ******** rejected") {
		t.Errorf("last_error = %q, want the hook's output masked", st["last_error"])
	}
	err := filepath.WalkDir(s.w.storage, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if data, err := os.ReadFile(path); err == nil && strings.Contains(string(data), token) {
			t.Errorf("%s holds the token", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := hook.messages()
	if len(msgs) == 0 {
		t.Fatal("no notification")
	}
	body, _ := json.Marshal(msgs)
	if strings.Contains(string(body), token) || !strings.Contains(string(body), "token ******** rejected") {
		t.Errorf("the notification shows the token, or not the masked error:\n%s", body)
	}
}
