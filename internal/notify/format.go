package notify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/renewd/renewd/internal/config"
)

// Size limits of the robots' messages, in bytes of UTF-8, with room to
// spare: WeCom text 2048 and markdown 4096; DingTalk has no documented
// figure, so WeCom's markdown one is used; Feishu rejects bodies over 20 KB.
const (
	limitWeComText     = 2000
	limitWeComMarkdown = 4000
	limitDingTalk      = 4000
	limitFeishu        = 15000
	limitWebhookText   = 15000
)

// encode builds the request URL and JSON body of m for target t, signed
// at now where the service wants a signature.
func encode(t *config.NotifyTarget, m *message, host string, now time.Time) (string, []byte, error) {
	var body any
	u := t.URL
	switch t.Type {
	case config.NotifyWeCom:
		body = wecomBody(t.Format, m)
	case config.NotifyDingTalk:
		body = dingtalkBody(t.Format, m)
		if t.Secret != "" {
			var err error
			if u, err = dingtalkSign(t.URL, t.Secret, now); err != nil {
				return "", nil, err
			}
		}
	case config.NotifyFeishu:
		body = feishuBody(t.Format, m, t.Secret, now)
	case config.NotifyWebhook:
		body = webhookBody(m, host)
	default:
		return "", nil, fmt.Errorf("unknown target type %q", t.Type)
	}
	// Robots show the text as is: no need for \u003c in place of '<'.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return "", nil, err
	}
	return u, bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

type textContent struct {
	Content string `json:"content"`
}

// wecomBody follows WeCom's group robot documentation (群机器人配置说明).
func wecomBody(format string, m *message) any {
	if format == "text" {
		return struct {
			MsgType string      `json:"msgtype"`
			Text    textContent `json:"text"`
		}{"text", textContent{m.text(limitWeComText)}}
	}
	return struct {
		MsgType  string      `json:"msgtype"`
		Markdown textContent `json:"markdown"`
	}{"markdown", textContent{m.markdown(limitWeComMarkdown)}}
}

// dingtalkBody: https://open.dingtalk.com/document/orgapp/custom-robot-access
func dingtalkBody(format string, m *message) any {
	if format == "text" {
		return struct {
			MsgType string      `json:"msgtype"`
			Text    textContent `json:"text"`
		}{"text", textContent{m.text(limitDingTalk)}}
	}
	type markdown struct {
		Title string `json:"title"` // shown in the conversation list
		Text  string `json:"text"`
	}
	return struct {
		MsgType  string   `json:"msgtype"`
		Markdown markdown `json:"markdown"`
	}{"markdown", markdown{clip(m.title, 200), m.markdown(limitDingTalk)}}
}

// dingtalkSign appends DingTalk's signature to the robot URL: timestamp
// in milliseconds, sign = base64(HMAC-SHA256(key = secret, message =
// timestamp + "\n" + secret)), URL-encoded. DingTalk rejects a timestamp
// more than an hour off, so it is computed for each attempt.
func dingtalkSign(raw, secret string, now time.Time) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("the URL does not parse") // never quote it: it holds the token
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("sign", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// feishuBody: https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
// With a secret the body carries timestamp (seconds, a string) and sign =
// base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = empty)).
func feishuBody(format string, m *message, secret string, now time.Time) any {
	type element struct {
		Tag  string `json:"tag"`
		Text string `json:"text"`
	}
	type post struct {
		Title   string      `json:"title"`
		Content [][]element `json:"content"`
	}
	body := struct {
		Timestamp string `json:"timestamp,omitempty"`
		Sign      string `json:"sign,omitempty"`
		MsgType   string `json:"msg_type"`
		Content   any    `json:"content"`
	}{MsgType: format}
	if format == "text" {
		body.Content = struct {
			Text string `json:"text"`
		}{m.text(limitFeishu)}
	} else {
		p := post{Title: m.title}
		for _, line := range m.paragraphs(limitFeishu) {
			p.Content = append(p.Content, []element{{"text", line}})
		}
		body.Content = map[string]any{"post": map[string]post{"zh_cn": p}}
	}
	if secret != "" {
		body.Timestamp = strconv.FormatInt(now.Unix(), 10)
		body.Sign = feishuSign(body.Timestamp, secret)
	}
	return body
}

func feishuSign(ts, secret string) string {
	mac := hmac.New(sha256.New, []byte(ts+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// WebhookPayload is the JSON body renewd POSTs to a target of type
// webhook: a title and text ready to show, and the events themselves.
// Field names are a stable interface.
type WebhookPayload struct {
	Source string  `json:"source"` // always "renewd"
	Host   string  `json:"host"`
	Title  string  `json:"title"`
	Text   string  `json:"text"`
	Digest bool    `json:"digest"` // several events in one message
	Events []Event `json:"events"`
}

func webhookBody(m *message, host string) WebhookPayload {
	return WebhookPayload{Source: "renewd", Host: host, Title: m.title, Text: m.text(limitWebhookText), Digest: m.digest, Events: m.events}
}

// sendError is a failed attempt; retry says whether another attempt may
// succeed (a timeout, a 5xx, a rate limit) or not (a bad token, a
// rejected signature, a keyword the robot requires).
type sendError struct {
	msg   string
	retry bool
	after time.Duration // the server's Retry-After, if any
}

func (e *sendError) Error() string { return e.msg }

// Error codes in the replies of the robots that a later attempt may get
// past: busy, or rate limited (WeCom and DingTalk allow 20 messages a
// minute per robot, Feishu 100 a minute and 5 a second).
var retryCodes = map[string][]int{
	config.NotifyWeCom:    {-1, 45009},
	config.NotifyDingTalk: {-1, 130101},
	config.NotifyFeishu:   {11232},
}

// reply is the JSON the robots answer with: WeCom and DingTalk errcode
// and errmsg; Feishu code and msg, or StatusCode and StatusMessage from
// its older API. All are 0 on success.
type reply struct {
	ErrCode       *int   `json:"errcode"`
	ErrMsg        string `json:"errmsg"`
	Code          *int   `json:"code"`
	Msg           string `json:"msg"`
	StatusCode    *int   `json:"StatusCode"`
	StatusMessage string `json:"StatusMessage"`
}

// checkReply turns an HTTP reply into nil or a *sendError. body is
// already cut to a bounded size.
func checkReply(typ string, status int, header http.Header, body []byte) error {
	if status < 200 || status > 299 {
		e := &sendError{msg: fmt.Sprintf("HTTP %d", status)}
		if len(body) > 0 {
			e.msg += ": " + clip(oneLine(string(body)), 200)
		}
		switch {
		case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
			e.retry = true
			if s, err := strconv.Atoi(header.Get("Retry-After")); err == nil && s > 0 {
				e.after = time.Duration(s) * time.Second
			}
		case status >= 300 && status < 400:
			e.msg += " (a redirect; renewd does not follow it: give the final URL)"
		}
		return e
	}
	if typ == config.NotifyWebhook {
		return nil
	}
	var r reply
	if json.Unmarshal(body, &r) != nil {
		// A relay in between may answer in its own way; the service itself
		// always sends JSON, and says so when it rejects a message.
		return nil
	}
	code, msg := 0, ""
	for _, c := range []struct {
		code *int
		msg  string
	}{{r.ErrCode, r.ErrMsg}, {r.Code, r.Msg}, {r.StatusCode, r.StatusMessage}} {
		if c.code != nil && *c.code != 0 {
			code, msg = *c.code, c.msg
			break
		}
	}
	if code == 0 {
		return nil
	}
	return &sendError{
		msg:   fmt.Sprintf("%s replied code %d: %s", typ, code, clip(oneLine(msg), 200)),
		retry: slices.Contains(retryCodes[typ], code),
	}
}
