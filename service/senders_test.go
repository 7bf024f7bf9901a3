package service_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"shop/infrastructure/notifier/notifiertest"
	"shop/service"
)

// providers are an SMTP server, an SMS API of Twilio's shape and a push
// webhook, all of the test's own, counting what reaches them.
type providers struct {
	mail *notifiertest.MailServer
	sms  *httptest.Server
	push *httptest.Server

	mu         sync.Mutex
	smsBodies  []string
	pushBodies []string
}

func startProviders(t *testing.T) *providers {
	t.Helper()
	p := &providers{mail: notifiertest.StartMailServer(t, notifiertest.OfferSTARTTLS)}
	p.sms = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "AC-test" || pass != "sms-token" || r.URL.Path != "/2010-04-01/Accounts/AC-test/Messages.json" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = r.ParseForm()
		p.mu.Lock()
		p.smsBodies = append(p.smsBodies, r.PostForm.Get("To")+" "+r.PostForm.Get("Body"))
		p.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	p.push = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.pushBodies = append(p.pushBodies, r.Header.Get("X-Shop-Signature"))
		p.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(p.sms.Close)
	t.Cleanup(p.push.Close)
	return p
}

func (p *providers) configure(cfg *service.Config) {
	cfg.Notify.SMTP.URL = "smtp://shop:s3cret@" + p.mail.Addr
	cfg.Notify.SMTP.From = "Shop <orders@shop.example>"
	cfg.Notify.SMTP.TLS = p.mail.Client
	cfg.Notify.Twilio.AccountSID, cfg.Notify.Twilio.AuthToken, cfg.Notify.Twilio.From = "AC-test", "sms-token", "+15005550006"
	cfg.Notify.Twilio.BaseURL = p.sms.URL
	cfg.Notify.Webhook.URL, cfg.Notify.Webhook.Secret = p.push.URL+"/push", "push-secret-0123456789"
}

func (p *providers) counts() (mails, sms, push int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.mail.Messages()), len(p.smsBodies), len(p.pushBodies)
}

// With every provider configured, a customer who left an e-mail address, a
// phone number and a device token is told on all three, once per kind; a
// mail server that refuses a recipient for good fails that notification at
// once, one that keeps answering "try later" has it given up after the
// attempts, and neither holds back the other channels.
func TestNotificationsAreDeliveredByTheirProviders(t *testing.T) {
	forBackends(t, func(be backend) bool { return be.name == "gochannel-memory" || be.name == "amqp-mongo" }, func(t *testing.T, be backend) {
		p := startProviders(t)
		s := startShop(t, be, withConfig(p.configure))
		s.addProduct("p", 10)
		body := orderBody("c", item{"p", 1, "5"})
		body["contact"] = map[string]any{"email": "ada@example.com", "phone": "+4915112345678", "deviceToken": "device-token-0001"}
		id := s.placeOrder(body)
		s.waitOrder(id, "CONFIRMED")
		statuses := func(id string, want int) map[string]string {
			t.Helper()
			got := map[string]string{}
			if !eventually(30*time.Second, func() bool {
				got = map[string]string{}
				for _, n := range s.notifications(id) {
					if n.Status == "pending" {
						return false
					}
					got[n.Kind+"/"+n.Channel] = n.Status
				}
				return len(got) == want
			}) {
				t.Fatalf("order %s: notifications %v", id, s.notifications(id))
			}
			return got
		}
		for k, st := range statuses(id, 6) {
			if st != "sent" {
				t.Errorf("%s: %s, want sent", k, st)
			}
		}
		if mails, sms, push := p.counts(); mails != 2 || sms != 2 || push != 2 {
			t.Fatalf("delivered %d mails, %d sms, %d pushes; want 2 each", mails, sms, push)
		}
		mail := string(p.mail.Messages()[0].Data)
		if p.mail.Messages()[0].To != "ada@example.com" || !strings.Contains(mail, id) || !strings.Contains(mail, "multipart/alternative") {
			t.Fatalf("mail %s", mail)
		}
		h := decode[healthAnswer](t, s.get(service.Notifications, "/health"))
		if h.Senders["email"] != "smtp" || h.Senders["sms"] != "twilio" || h.Senders["push"] != "webhook" || h.Senders["log"] != "log" ||
			h.CircuitBreakers["notifier-smtp"] != "closed" || h.CircuitBreakers["notifier-twilio"] != "closed" || h.CircuitBreakers["notifier-webhook"] != "closed" {
			t.Fatalf("health %+v", h)
		}
		if be.bus != service.BusGoChannel {
			// The orders service, a process of its own here, sends nothing.
			if o := decode[healthAnswer](t, s.get(service.Orders, "/health")); o.Senders != nil || o.CircuitBreakers["notifier-smtp"] != "" {
				t.Fatalf("orders health %+v", o)
			}
		}

		for code, want := range map[int]string{550: "failed", 451: "given_up"} {
			p.mail.Refuse(code)
			mails, sms, _ := p.counts()
			email := orderBody("c", item{"p", 1, "5"})
			email["contact"] = map[string]any{"email": "bob@example.com", "phone": "+4915112345679"}
			id := s.placeOrder(email)
			s.waitOrder(id, "CONFIRMED")
			got := statuses(id, 4)
			if got["order_created/email"] != want || got["order_confirmed/email"] != want || got["order_created/sms"] != "sent" || got["order_confirmed/sms"] != "sent" {
				t.Fatalf("mail server answering %d: %v, want email %s and sms sent", code, got, want)
			}
			for _, n := range s.notifications(id) {
				attempts := map[string]int{"failed": 1, "given_up": 3}[want]
				if n.Channel == "email" && (n.Attempts != attempts || !strings.Contains(n.LastError, "refused by the test")) {
					t.Fatalf("mail server answering %d: %+v, want %d attempts", code, n, attempts)
				}
			}
			if m, s, _ := p.counts(); m != mails || s != sms+2 {
				t.Fatalf("mail server answering %d: mails %d → %d, sms %d → %d", code, mails, m, sms, s)
			}
		}
	})
}

// A provider that keeps answering "try later" holds back no order and no
// other notification: every order is decided and told by SMS, while its
// e-mails wait in the schedule for their next attempt (an hour away here),
// their messages acknowledged.
func TestAProviderThatIsDownHoldsBackNoOrder(t *testing.T) {
	forBackends(t, func(be backend) bool { return be.name == "gochannel-memory" || be.name == "amqp-mongo" }, func(t *testing.T, be backend) {
		p := startProviders(t)
		p.mail.Refuse(421)
		s := startShop(t, be, withConfig(p.configure), withConfig(func(cfg *service.Config) {
			cfg.NotificationRetryDelay = time.Hour // the attempts after the first wait
		}))
		s.addProduct("p", 10)
		var ids []string
		for range 3 {
			body := orderBody("c", item{"p", 1, "5"})
			body["contact"] = map[string]any{"email": "ada@example.com", "phone": "+4915112345678"}
			ids = append(ids, s.placeOrder(body))
		}
		for _, id := range ids {
			s.waitOrder(id, "CONFIRMED")
			if !eventually(30*time.Second, func() bool {
				got := map[string]notificationJSON{}
				for _, n := range s.notifications(id) {
					got[n.Kind+"/"+n.Channel] = n
				}
				for _, kind := range []string{"order_created", "order_confirmed"} {
					if email := got[kind+"/email"]; got[kind+"/sms"].Status != "sent" || email.Status != "pending" || email.Attempts != 1 {
						return false
					}
				}
				return true
			}) {
				t.Fatalf("order %s: notifications %v", id, s.notifications(id))
			}
		}
	})
}
