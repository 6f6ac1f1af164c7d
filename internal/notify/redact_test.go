package notify

import (
	"strings"
	"testing"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/secret"
)

// TestSendMasksEventErrors: a certificate's last error that quotes a
// secret (a hook that printed $CDN_TOKEN) reaches no webhook in clear.
func TestSendMasksEventErrors(t *testing.T) {
	const token = "cdn-token-41f9c2"
	secret.Add(token)
	hook := newHookServer(t, `{"errcode":0}`, nil)
	n, _ := newTestNotifier(t, []config.NotifyTarget{{Name: "hook", Type: "webhook", URL: hook.URL, Retries: 1}}, 5, Options{})
	ev := failEvent("shop")
	ev.Error = "deploy hook failed: [purge-cdn]: exit status 1: 401 for token " + token
	n.Send([]Event{ev})
	closeNotifier(t, n)
	reqs := hook.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	body := string(reqs[0].body)
	if strings.Contains(body, token) || !strings.Contains(body, "401 for token ********") {
		t.Errorf("the webhook got the secret, or no masked error:\n%s", body)
	}
}
