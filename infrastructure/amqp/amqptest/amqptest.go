// Package amqptest gives tests a RabbitMQ: RABBITMQ_TEST_URL, or the one on
// 127.0.0.1:5672 (guest/guest). When it cannot be reached the test is skipped,
// or fails under CI=true.
package amqptest

import (
	"os"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// URL returns a reachable RabbitMQ URL.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("RABBITMQ_TEST_URL")
	if url == "" {
		url = "amqp://guest:guest@127.0.0.1:5672/"
	}
	conn, err := amqp091.Dial(url)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ at %s is not reachable: %v", url, err)
		}
		t.Skipf("RabbitMQ at %s is not reachable: %v", url, err)
	}
	_ = conn.Close()
	return url
}

// DeleteQueues removes queues and exchanges a test declared.
func DeleteQueues(t testing.TB, url string, queues, exchanges []string) {
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer ch.Close()
	for _, q := range queues {
		_, _ = ch.QueueDelete(q, false, false, false)
	}
	for _, e := range exchanges {
		_ = ch.ExchangeDelete(e, false, false)
	}
}
