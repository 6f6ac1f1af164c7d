package acme

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// maxObjectSize bounds the ACME objects pendingErrors reads; an
// authorization is a few hundred bytes.
const maxObjectSize = 1 << 20

// pendingErrors is a transport that ends the wait for a challenge the CA
// has already failed. RFC 8555 section 8 says a challenge with an error
// is "invalid", and lego polls until it is. smallstep's step-ca leaves a
// failed challenge "pending" with the error inside it, so lego polls for
// minutes and ends with "the server didn't respond to our request
// (status=pending)", the cause never shown. pendingErrors marks such a
// challenge, and its authorization, "invalid" in the answer lego reads:
// lego then stops at once and reports the CA's own error.
//
// Only an answer whose challenge is "pending" and carries an error is
// changed; every other answer passes as it came.
type pendingErrors struct{ next http.RoundTripper }

func (p pendingErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK || req.Method != http.MethodPost {
		return resp, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return resp, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxObjectSize+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if edited, ok := failPending(body); ok {
		body = edited
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// failPending returns body with a pending challenge that carries an error
// marked invalid, whether body is the challenge or its authorization; ok
// is false when there is nothing to change.
func failPending(body []byte) ([]byte, bool) {
	var obj map[string]json.RawMessage
	if len(body) > maxObjectSize || json.Unmarshal(body, &obj) != nil {
		return nil, false
	}
	if _, isAuthz := obj["identifier"]; isAuthz {
		var chals []map[string]json.RawMessage
		if json.Unmarshal(obj["challenges"], &chals) != nil || jsonString(obj["status"]) != "pending" {
			return nil, false
		}
		failed := false
		for _, c := range chals {
			failed = failChallenge(c) || failed
		}
		if !failed {
			return nil, false
		}
		obj["challenges"], _ = json.Marshal(chals)
		obj["status"] = json.RawMessage(`"invalid"`)
	} else if _, isChallenge := obj["token"]; !isChallenge || !failChallenge(obj) {
		return nil, false
	}
	out, err := json.Marshal(obj)
	return out, err == nil
}

// failChallenge marks a pending challenge with an error invalid and
// reports whether it did.
func failChallenge(c map[string]json.RawMessage) bool {
	e, hasErr := c["error"]
	if jsonString(c["status"]) != "pending" || !hasErr || len(bytes.TrimSpace(e)) == 0 || string(bytes.TrimSpace(e)) == "null" {
		return false
	}
	c["status"] = json.RawMessage(`"invalid"`)
	return true
}

func jsonString(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}
