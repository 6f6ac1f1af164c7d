package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// hooks runs the item's deploy hooks in order; the first failure stops them.
func (d *Deployer) hooks(ctx context.Context, it *Item) error {
	env := hookEnv(it)
	for _, h := range it.Deploy.Hooks {
		out, err := d.runner().Run(ctx, h, env, it.Deploy.HookTimeout)
		if err != nil {
			return fmt.Errorf("deploy hook failed: %w: %s", err, tail(out))
		}
		d.step(it.Name, "hook", quote(h))
	}
	return nil
}

// hookEnv describes the certificate to a hook, certbot-style but explicit.
func hookEnv(it *Item) []string {
	fullchain, key := it.Deploy.Fullchain, it.Deploy.Key
	if fullchain == "" {
		fullchain, key = it.LiveDir+"/fullchain.pem", it.LiveDir+"/privkey.pem"
	}
	return []string{
		"RENEWD_NAME=" + it.Name,
		"RENEWD_DOMAINS=" + strings.Join(it.Domains, " "),
		"RENEWD_FULLCHAIN=" + fullchain,
		"RENEWD_KEY=" + key,
		"RENEWD_LIVE_DIR=" + it.LiveDir,
		"RENEWD_PKCS12=" + it.Deploy.PKCS12.Path,
		"RENEWD_VERSION=" + it.Version,
		fmt.Sprintf("RENEWD_SERIAL=%x", it.Leaf.SerialNumber),
		"RENEWD_NOT_AFTER=" + it.Leaf.NotAfter.UTC().Format(time.RFC3339),
	}
}
