package notify

import (
	"net/url"
	"slices"
	"strings"
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
// request): the URL itself, its query values and longer path segments,
// and the signing secret.
type scrubber struct {
	r *strings.Replacer
}

func newScrubber(raw, secret string) scrubber {
	secrets := []string{raw, secret}
	if u, err := url.Parse(raw); err == nil {
		secrets = append(secrets, u.RawQuery, u.EscapedPath())
		for _, vs := range u.Query() {
			secrets = append(secrets, vs...)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if len(seg) >= 16 {
				secrets = append(secrets, seg, url.PathEscape(seg))
			}
		}
	}
	// Longest first, so a value that contains another is masked whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, s := range secrets {
		if len(s) >= 4 {
			pairs = append(pairs, s, "********")
		}
	}
	return scrubber{strings.NewReplacer(pairs...)}
}

func (s scrubber) clean(text string) string { return s.r.Replace(text) }
