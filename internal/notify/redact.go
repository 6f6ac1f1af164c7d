package notify

import (
	"net/url"

	"github.com/renewd/renewd/internal/secret"
)

// redactURL is how a target's address may appear in logs and errors:
// scheme://host only. The query holds the token for WeCom (key) and
// DingTalk (access_token), and the path holds it for Feishu
// (/open-apis/bot/v2/hook/<token>) and for many generic webhooks, so
// neither is shown.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

// scrubber masks a target's secrets in text that came from elsewhere (an
// HTTP client error that quotes the URL, a reply that echoes the
// request): the URL and its parts (secret.URLSecrets) and the signing
// secret, and every other secret renewd knows of (secret.Mask).
type scrubber struct {
	own *secret.Set
}

func newScrubber(raw, signing string) scrubber {
	own := &secret.Set{}
	own.Add(secret.URLSecrets(raw)...)
	own.Add(signing)
	return scrubber{own}
}

func (s scrubber) clean(text string) string { return secret.Mask(s.own.Mask(text)) }

// maskEvents returns events with the free text that came from elsewhere
// (a certificate's last error: a hook's or a DNS provider's output, a
// command line) masked by secret.Mask, before it is rendered for any
// target.
func maskEvents(events []Event) []Event {
	out := make([]Event, len(events))
	for i, e := range events {
		e.Error, e.Cause = secret.Mask(e.Error), secret.Mask(e.Cause)
		out[i] = e
	}
	return out
}
