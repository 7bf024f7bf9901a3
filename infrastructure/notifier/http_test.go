package notifier_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"shop/app/fault"
	"shop/app/notifications"
	"shop/domain/notification"
	"shop/infrastructure/notifier"
)

// twilioAPI checks each request as Twilio's Messages API does: the path
// names the account, basic auth is the account SID and token, the form has
// To, From and Body; it answers 201 with the message, or what answer says.
type twilioAPI struct {
	t      *testing.T
	answer int

	mu     sync.Mutex
	forms  []map[string]string
	tokens []string
}

func (a *twilioAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/AC123/Messages.json" || !ok || user != "AC123" || pass != "token-1" ||
		r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		a.t.Errorf("request %s %s, auth %q:%q", r.Method, r.URL.Path, user, pass)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if err := r.ParseForm(); err != nil {
		a.t.Error(err)
	}
	a.mu.Lock()
	a.forms = append(a.forms, map[string]string{"To": r.PostForm.Get("To"), "From": r.PostForm.Get("From"), "Body": r.PostForm.Get("Body")})
	a.tokens = append(a.tokens, r.Header.Get("I-Twilio-Idempotency-Token"))
	a.mu.Unlock()
	if a.answer != 0 {
		w.WriteHeader(a.answer)
		_, _ = w.Write([]byte(`{"code": 21211, "message": "The 'To' number is not a valid phone number."}`))
		return
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"sid": "SM1", "status": "queued"}`))
}

func sms() notifications.Message {
	return notifications.Message{
		IdempotencyKey: "o-1:order_confirmed:sms", Channel: notification.ChannelSMS,
		Recipient: "+4915112345678", Subject: "Order confirmed", Body: "Your order o-1 is confirmed.",
	}
}

func TestAnSMSGoesToTwilioWithItsAuthFormAndIdempotencyToken(t *testing.T) {
	t.Parallel()
	api := &twilioAPI{t: t}
	server := httptest.NewServer(api)
	defer server.Close()
	s, err := notifier.NewTwilio(notifier.TwilioConfig{AccountSID: "AC123", AuthToken: "token-1", From: "+15005550006", BaseURL: server.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), sms()); err != nil {
		t.Fatal(err)
	}
	if len(api.forms) != 1 || api.forms[0]["To"] != "+4915112345678" || api.forms[0]["From"] != "+15005550006" ||
		api.forms[0]["Body"] != "Order confirmed\nYour order o-1 is confirmed." || api.tokens[0] != "o-1:order_confirmed:sms" {
		t.Fatalf("forms %v, tokens %v", api.forms, api.tokens)
	}
}

func TestWhatAProviderAnswersDecidesWhetherANotificationIsTriedAgain(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status    int
		transient bool
	}{
		{http.StatusBadRequest, false}, {http.StatusNotFound, false}, {http.StatusUnprocessableEntity, false},
		{http.StatusUnauthorized, true}, {http.StatusTooManyRequests, true}, {http.StatusInternalServerError, true}, {http.StatusServiceUnavailable, true},
	} {
		api := &twilioAPI{t: t, answer: tt.status}
		server := httptest.NewServer(api)
		s, err := notifier.NewTwilio(notifier.TwilioConfig{AccountSID: "AC123", AuthToken: "token-1", From: "+15005550006", BaseURL: server.URL})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Send(context.Background(), sms())
		server.Close()
		if err == nil || fault.IsTransient(err) != tt.transient || fault.IsMalformed(err) == tt.transient {
			t.Errorf("answer %d: %v (transient %v, malformed %v)", tt.status, err, fault.IsTransient(err), fault.IsMalformed(err))
		}
	}
	s, err := notifier.NewWebhook(notifier.WebhookConfig{URL: "http://127.0.0.1:1/push", Secret: strings.Repeat("k", 16)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), sms()); !fault.IsTransient(err) {
		t.Errorf("no webhook listening: %v", err)
	}
}

// A webhook receiver checks the signature over the timestamp and the body,
// as the README tells receivers to, and refuses an old timestamp.
func TestAPushIsAWebhookPOSTSignedWithItsTimestamp(t *testing.T) {
	t.Parallel()
	const secret = "webhook-secret-0123456789"
	now := time.Unix(1_800_000_000, 0)
	var got struct {
		ID, Channel, Recipient, Subject, Body string
	}
	var idempotency string
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		stamp := r.Header.Get("X-Shop-Timestamp")
		sent, err := strconv.ParseInt(stamp, 10, 64)
		if err != nil || now.Sub(time.Unix(sent, 0)) > 5*time.Minute {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if !hmac.Equal([]byte(r.Header.Get("X-Shop-Signature")), []byte(notifier.Signature(secret, stamp, body))) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		idempotency = r.Header.Get("Idempotency-Key")
		if err := json.Unmarshal(body, &got); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer server.Close()
	push := notifications.Message{IdempotencyKey: "o-1:order_created:push", Channel: notification.ChannelPush, Recipient: "device-token-1", Subject: "Order received", Body: "We received your order o-1."}
	for _, tt := range []struct {
		name   string
		secret string
		stamp  time.Time
		ok     bool
	}{
		{"signed now", secret, now, true},
		{"signed with another secret", "another-secret-0123456789", now, false},
		{"played again an hour later", secret, now.Add(-time.Hour), false},
	} {
		s, err := notifier.NewWebhook(notifier.WebhookConfig{URL: server.URL + "/push", Secret: tt.secret, Now: func() time.Time { return tt.stamp }})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Send(context.Background(), push)
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	if got.ID != "o-1:order_created:push" || got.Channel != "push" || got.Recipient != "device-token-1" || got.Subject != "Order received" || idempotency != got.ID {
		t.Fatalf("received %+v, idempotency key %q", got, idempotency)
	}
}

func TestHTTPSenderSettingsThatCannotWorkAreRefused(t *testing.T) {
	t.Parallel()
	if _, err := notifier.NewTwilio(notifier.TwilioConfig{AccountSID: "AC1", From: "+1"}); err == nil {
		t.Error("twilio without a token")
	}
	if _, err := notifier.NewTwilio(notifier.TwilioConfig{AccountSID: "AC1", AuthToken: "t", From: "+1", BaseURL: "ftp://x"}); err == nil {
		t.Error("twilio with an ftp base URL")
	}
	if _, err := notifier.NewWebhook(notifier.WebhookConfig{URL: "https://push.example.com", Secret: "short"}); err == nil {
		t.Error("webhook with a short secret")
	}
	if _, err := notifier.NewWebhook(notifier.WebhookConfig{URL: "push.example.com", Secret: strings.Repeat("k", 16)}); err == nil {
		t.Error("webhook without a scheme")
	}
}

type recordingSender struct {
	name string
	got  *[]string
}

func (r recordingSender) Send(_ context.Context, m notifications.Message) (notifications.Receipt, error) {
	*r.got = append(*r.got, r.name+":"+m.Channel.String())
	return notifications.Receipt{Logged: r.name == "log"}, nil
}

func TestEachChannelGoesToItsSenderAndTheRestToTheLog(t *testing.T) {
	t.Parallel()
	var got []string
	c := notifier.NewChannels("log", recordingSender{"log", &got})
	c.Use(notification.ChannelEmail, "smtp", recordingSender{"smtp", &got})
	c.Use(notification.ChannelPush, "webhook", recordingSender{"webhook", &got})
	logged := map[string]bool{}
	for _, ch := range []notification.Channel{notification.ChannelEmail, notification.ChannelSMS, notification.ChannelPush, notification.ChannelLog} {
		r, err := c.Send(context.Background(), notifications.Message{Channel: ch})
		if err != nil {
			t.Fatal(err)
		}
		logged[ch.String()] = r.Logged
	}
	if strings.Join(got, " ") != "smtp:email log:sms webhook:push log:log" || !logged["sms"] || logged["email"] {
		t.Fatalf("sent %v, logged %v", got, logged)
	}
	if d := c.Describe(); d["email"] != "smtp" || d["sms"] != "log" || d["push"] != "webhook" || d["log"] != "log" {
		t.Fatalf("described %v", d)
	}
}
