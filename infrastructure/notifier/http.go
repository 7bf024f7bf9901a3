package notifier

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"shop/app/fault"
	"shop/app/notifications"
)

// TwilioConfig is how the SMS sender reaches Twilio's Messages API.
type TwilioConfig struct {
	AccountSID string // TWILIO_ACCOUNT_SID
	AuthToken  string // TWILIO_AUTH_TOKEN
	From       string // TWILIO_FROM: the sending number, or a messaging service SID (MG…)
	// BaseURL is TWILIO_BASE_URL, https://api.twilio.com by default: a
	// proxy, a provider with the same API, or a test server.
	BaseURL string
	Client  *http.Client
}

// Twilio sends SMS with Twilio's Messages API: a form POST to
// /2010-04-01/Accounts/{AccountSid}/Messages.json with the account's basic
// auth, and the notification's id as Twilio's idempotency token, so that an
// attempt repeated after a crash between sending and recording is dropped.
type Twilio struct {
	cfg      TwilioConfig
	endpoint string
}

// NewTwilio checks cfg and builds the sender.
func NewTwilio(cfg TwilioConfig) (*Twilio, error) {
	if cfg.AccountSID == "" || cfg.AuthToken == "" || cfg.From == "" {
		return nil, errors.New("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM go together")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.twilio.com"
	}
	base, err := checkURL("TWILIO_BASE_URL", cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Twilio{cfg: cfg, endpoint: strings.TrimRight(base.String(), "/") + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Messages.json"}, nil
}

// Send implements notifications.Sender.
func (t *Twilio) Send(ctx context.Context, m notifications.Message) (notifications.Receipt, error) {
	form := url.Values{"To": {m.Recipient}, "Body": {m.Subject + "\n" + m.Body}}
	if strings.HasPrefix(t.cfg.From, "MG") {
		form.Set("MessagingServiceSid", t.cfg.From)
	} else {
		form.Set("From", t.cfg.From)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return notifications.Receipt{}, err
	}
	req.SetBasicAuth(t.cfg.AccountSID, t.cfg.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("I-Twilio-Idempotency-Token", m.IdempotencyKey)
	return notifications.Receipt{}, post(t.cfg.Client, req, "twilio")
}

// WebhookConfig is how the push sender reaches its webhook.
type WebhookConfig struct {
	URL    string // PUSH_WEBHOOK_URL
	Secret string // WEBHOOK_SECRET, at least 16 characters
	Client *http.Client
	// Now stamps the requests; tests set it.
	Now func() time.Time
}

// Webhook delivers notifications as a signed JSON POST: for push (a gateway
// that holds the platform's push credentials), and for any channel an
// operator wants to relay elsewhere.
//
// Each request carries X-Shop-Timestamp (Unix seconds) and X-Shop-Signature,
// "v1=" and the hex HMAC-SHA256, keyed with WEBHOOK_SECRET, of the timestamp,
// a dot and the body: the receiver recomputes it, and refuses a timestamp
// more than a few minutes old, so that a request captured on the way cannot
// be played again later. Idempotency-Key is the notification's id.
type Webhook struct {
	cfg WebhookConfig
	url string
}

// NewWebhook checks cfg and builds the sender.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := checkURL("PUSH_WEBHOOK_URL", cfg.URL)
	if err != nil {
		return nil, err
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("WEBHOOK_SECRET must have at least 16 characters")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Webhook{cfg: cfg, url: u.String()}, nil
}

// webhookBody is what a webhook receives.
type webhookBody struct {
	ID        string `json:"id"`
	Channel   string `json:"channel"`
	Recipient string `json:"recipient"`
	Subject   string `json:"subject"`
	Body      string `json:"body"`
}

// Send implements notifications.Sender.
func (w *Webhook) Send(ctx context.Context, m notifications.Message) (notifications.Receipt, error) {
	body, err := json.Marshal(webhookBody{ID: m.IdempotencyKey, Channel: m.Channel.String(), Recipient: m.Recipient, Subject: m.Subject, Body: m.Body})
	if err != nil {
		return notifications.Receipt{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return notifications.Receipt{}, err
	}
	stamp := strconv.FormatInt(w.cfg.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", m.IdempotencyKey)
	req.Header.Set("X-Shop-Timestamp", stamp)
	req.Header.Set("X-Shop-Signature", Signature(w.cfg.Secret, stamp, body))
	return notifications.Receipt{}, post(w.cfg.Client, req, "webhook")
}

// Signature is the X-Shop-Signature of a webhook request's timestamp and
// body, for receivers written in Go to check with hmac.Equal.
func Signature(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

func checkURL(name, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%s %q: want an http or https URL", name, s)
	}
	return u, nil
}

// post sends req and reads the answer: 2xx delivered; 408, 409, 425, 429,
// 5xx and no answer are fault.Unavailable (tried again later), as are 401
// and 403 (the platform's credentials, not the recipient, are wrong); any
// other 4xx refuses the notification for good (fault.Malformed).
func post(client *http.Client, req *http.Request, provider string) error {
	resp, err := client.Do(req)
	if err != nil {
		return fault.Unavailable(provider, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 500, code == 408, code == 409, code == 425, code == 429, code == 401, code == 403:
		return fault.Unavailable(provider, fmt.Errorf("%s answered %d: %s", provider, code, bytes.TrimSpace(answer)))
	default:
		return fault.Malformed(fmt.Errorf("%s refused the notification (%d): %s", provider, code, bytes.TrimSpace(answer)))
	}
}
