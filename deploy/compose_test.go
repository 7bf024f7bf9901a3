package deploy_test

import (
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"shop/service"
)

// The demo's services take the configuration the compose file gives them,
// and send their spans to the Jaeger beside them.
func TestTheDemosServicesAreConfiguredAndTraceToItsJaeger(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command     []string          `json:"command"`
			Environment map[string]string `json:"environment"`
			Ports       []string          `json:"ports"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	served := 0
	for name, svc := range compose.Services {
		if len(svc.Command) < 3 || svc.Command[0] != "serve" || svc.Command[1] != "--services" {
			continue
		}
		served++
		env := svc.Environment
		env["SERVICES"] = svc.Command[2]
		env["ADMIN_TOKEN"] = strings.ReplaceAll(env["ADMIN_TOKEN"], "${ADMIN_TOKEN:-change-me-demo-admin-token}", "change-me-demo-admin-token")
		cfg, err := service.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, "host-1")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !cfg.Tracing.Enabled {
			t.Fatalf("%s does not trace", name)
		}
		endpoint, err := url.Parse(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
		if err != nil {
			t.Fatal(err)
		}
		collector, ok := compose.Services[endpoint.Hostname()]
		if !ok || !slices.Contains(collector.Ports, endpoint.Port()+":"+endpoint.Port()) || collector.Environment["COLLECTOR_OTLP_ENABLED"] != "true" {
			t.Fatalf("%s sends its spans to %s, which the compose file does not run as an OTLP collector", name, endpoint)
		}
	}
	if served != 3 {
		t.Fatalf("%d services served, want 3", served)
	}
}
