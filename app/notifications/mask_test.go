package notifications_test

import (
	"testing"

	"shop/app/notifications"
	"shop/domain/notification"
)

func TestAnAddressIsMaskedToWhatRecognisesIt(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		channel       notification.Channel
		address, want string
	}{
		{notification.ChannelEmail, "ada@example.com", "a***@example.com"},
		{notification.ChannelEmail, "émile@example.fr", "é***@example.fr"},
		{notification.ChannelEmail, "no-at-sign", "***"},
		{notification.ChannelEmail, "@example.com", "***"},
		{notification.ChannelSMS, "+4915112345678", "+49***78"},
		{notification.ChannelSMS, "12345", "***"},
		{notification.ChannelPush, "device-token-123456", "devi***"},
		{notification.ChannelPush, "short", "***"},
		{notification.ChannelLog, "", ""},
	} {
		if got := notifications.Mask(tt.channel, tt.address); got != tt.want {
			t.Errorf("%s %q: %q, want %q", tt.channel, tt.address, got, tt.want)
		}
	}
}
