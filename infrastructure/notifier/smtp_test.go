package notifier_test

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"shop/app/fault"
	"shop/app/notifications"
	"shop/domain/notification"
	"shop/infrastructure/notifier"
	"shop/infrastructure/notifier/notifiertest"
)

func confirmation() notifications.Message {
	return notifications.Message{
		IdempotencyKey: "01a2b3c4-0000-7000-8000-000000000001:order_confirmed:email", Channel: notification.ChannelEmail,
		Recipient: "ada@example.com", Subject: "Order confirmed — thank you",
		Body: "Your order 01a2b3c4-0000-7000-8000-000000000001 is confirmed.\n2 × Laptop at 999.99",
	}
}

func smtpSender(t *testing.T, url string, ms *notifiertest.MailServer) *notifier.SMTP {
	t.Helper()
	s, err := notifier.NewSMTP(notifier.SMTPConfig{URL: url, From: "Shop <shop@example.com>", TLS: ms.Client, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAnEMailArrivesAsAMIMEMessageOverSTARTTLSAndOverTLS(t *testing.T) {
	t.Parallel()
	for name, mode := range map[string]notifiertest.TLS{"smtp": notifiertest.OfferSTARTTLS, "smtps": notifiertest.SpeakTLS} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ms := notifiertest.StartMailServer(t, mode)
			s := smtpSender(t, name+"://shop:s3cret@"+ms.Addr, ms)
			if r, err := s.Send(context.Background(), confirmation()); err != nil || r.Logged {
				t.Fatalf("send: %+v %v", r, err)
			}
			got := ms.Messages()
			if len(got) != 1 || got[0].From != "shop@example.com" || got[0].To != "ada@example.com" || len(ms.Authenticated()) != 1 {
				t.Fatalf("received %+v, authenticated %v", got, ms.Authenticated())
			}
			msg, err := mail.ReadMessage(strings.NewReader(string(got[0].Data)))
			if err != nil {
				t.Fatal(err)
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			if err != nil || subject != "Order confirmed — thank you" {
				t.Fatalf("subject %q %v", subject, err)
			}
			if id := msg.Header.Get("Message-ID"); id != "<01a2b3c4-0000-7000-8000-000000000001.order_confirmed.email@example.com>" {
				t.Fatalf("Message-ID %q", id)
			}
			mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
			if err != nil || mediaType != "multipart/alternative" {
				t.Fatalf("content type %q %v", mediaType, err)
			}
			parts := multipart.NewReader(msg.Body, params["boundary"])
			var types []string
			for {
				p, err := parts.NextPart() // decodes quoted-printable
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(p)
				types = append(types, p.Header.Get("Content-Type"))
				if !strings.Contains(string(b), "01a2b3c4-0000-7000-8000-000000000001 is confirmed") || !strings.Contains(string(b), "2 × Laptop") {
					t.Errorf("%s part: %q", p.Header.Get("Content-Type"), b)
				}
			}
			if strings.Join(types, ",") != "text/plain; charset=utf-8,text/html; charset=utf-8" {
				t.Fatalf("parts %v", types)
			}
		})
	}
}

func TestAServerReply4xxIsTriedAgainAnd5xxIsARefusalForGood(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code      int
		transient bool
	}{{451, true}, {452, true}, {550, false}, {553, false}} {
		ms := notifiertest.StartMailServer(t, notifiertest.OfferSTARTTLS)
		ms.Refuse(tt.code)
		_, err := smtpSender(t, "smtp://shop:s3cret@"+ms.Addr, ms).Send(context.Background(), confirmation())
		if err == nil || fault.IsTransient(err) != tt.transient || fault.IsMalformed(err) == tt.transient {
			t.Errorf("reply %d: %v (transient %v, malformed %v)", tt.code, err, fault.IsTransient(err), fault.IsMalformed(err))
		}
		if n := len(ms.Messages()); n != 0 {
			t.Errorf("reply %d: %d messages received", tt.code, n)
		}
	}
}

func TestNoMailNorCredentialsGoToAServerWithoutTheTLSTheURLAsksFor(t *testing.T) {
	t.Parallel()
	ms := notifiertest.StartMailServer(t, notifiertest.NoTLS)
	_, err := smtpSender(t, "smtp://shop:s3cret@"+ms.Addr, ms).Send(context.Background(), confirmation())
	if err == nil || !fault.IsTransient(err) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("send without STARTTLS offered: %v", err)
	}
	if len(ms.Messages()) != 0 || len(ms.Authenticated()) != 0 {
		t.Fatalf("received %d, authenticated %v", len(ms.Messages()), ms.Authenticated())
	}
	// Asked for in so many words, clear text reaches a local relay.
	if _, err := smtpSender(t, "smtp://"+ms.Addr+"?tls=none", ms).Send(context.Background(), confirmation()); err != nil || len(ms.Messages()) != 1 {
		t.Fatalf("clear text: %v, %d received", err, len(ms.Messages()))
	}
}

func TestAServerThatCannotBeReachedIsUnavailable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s, err := notifier.NewSMTP(notifier.SMTPConfig{URL: "smtps://" + addr, From: "shop@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), confirmation()); !fault.IsTransient(err) {
		t.Fatalf("send to nobody: %v", err)
	}
	m := confirmation()
	m.Recipient = "not an address"
	if _, err := s.Send(context.Background(), m); !fault.IsMalformed(err) {
		t.Fatalf("bad recipient: %v", err)
	}
}

func TestSMTPSettingsThatCannotWorkAreRefused(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"http://mail.example.com":               "scheme",
		"smtp://":                               "no host",
		"smtps://mail.example.com?tls=none":     "pick one",
		"smtp://u:p@mail.example.com?tls=none":  "credentials are not sent without TLS",
		"smtp://mail.example.com?tls=sometimes": "tls=",
	} {
		if _, err := notifier.NewSMTP(notifier.SMTPConfig{URL: url, From: "shop@example.com"}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", url, err, want)
		}
	}
	if _, err := notifier.NewSMTP(notifier.SMTPConfig{URL: "smtp://mail.example.com", From: "not an address"}); err == nil || !strings.Contains(err.Error(), "NOTIFY_FROM") {
		t.Errorf("bad from: %v", err)
	}
}
