//go:build restart || faults

// The tests in this file stop and start the RabbitMQ every test shares, so
// they run on their own: make test runs them after the rest, with -tags restart.

package service_test

import (
	"os/exec"
	"testing"
	"time"

	"shop/service"
)

func rabbitmqctl(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("rabbitmqctl", args...).CombinedOutput(); err != nil {
		t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
}

func TestOrdersSurviveARestartOfRabbitMQ(t *testing.T) {
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		t.Fatal("rabbitmqctl is not installed; the restart test needs the local RabbitMQ")
	}
	for _, be := range []backend{{"amqp-memory", service.BusAMQP, false}, {"amqp-mongo", service.BusAMQP, true}} {
		t.Run(be.name, func(t *testing.T) {
			s := startShop(t, be)
			restarted := false
			t.Cleanup(func() {
				if !restarted { // never leave the broker stopped
					_ = exec.Command("rabbitmqctl", "start_app").Run()
				}
			})
			outage(t, s, func() {
				rabbitmqctl(t, "stop_app")
				time.Sleep(2 * time.Second)
				rabbitmqctl(t, "start_app")
				rabbitmqctl(t, "await_startup")
				restarted = true
			})
		})
	}
}
