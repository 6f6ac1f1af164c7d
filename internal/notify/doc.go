// Package notify tells a person when a certificate needs them: a renewal
// failed, it recovered, a canary failed and held the other certificates, the
// served chain was incomplete, or a certificate is close to expiry without a
// successful renewal. The CA no longer emails before expiry, so this is how
// a failed renewal reaches a person before it reaches users.
//
// The decision is apart from the sending. Changes is a pure function that
// compares two snapshots of the records and returns one Event per state
// change of a certificate, so a failure that repeats at every retry is
// announced once, and a restart does not announce it again. A Notifier
// sends events to the configured targets (a generic JSON webhook, a WeCom
// group robot, a DingTalk custom robot, a Feishu custom bot) in the
// background: Send never waits for the network, each target has a bounded
// queue that drops its oldest message when full, a timeout per request and
// a few retries with backoff, and Close flushes what is queued within a
// deadline.
//
// Webhook URLs carry the robot's token (WeCom and DingTalk in the query,
// Feishu in the path), and DingTalk and Feishu have a signing secret:
// neither ever appears in a log line or an error; targets are named by
// their configured name and scheme://host only.
package notify
