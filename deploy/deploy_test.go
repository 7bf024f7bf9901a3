// Package deploy_test checks the deployment files offline: the Kubernetes
// manifests decode strictly into the API's types, and the dashboards and
// alert rules only use metrics the services export.
package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"shop/service"
)

func documents(t *testing.T, path string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(d, "")) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func TestKubernetesManifestsDecodeStrictly(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("k8s/*.yaml")
	deployments := map[string]*appsv1.Deployment{}
	services := map[string]bool{}
	hpas := map[string]string{}
	// A partition is consumed by one replica at a time: replicas beyond
	// the partition count would stand idle.
	maxReplicas := map[string]int32{}
	partitions := 0
	var err error
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		for _, doc := range documents(t, f) {
			var head struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var obj any
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 Deployment":
				d := &appsv1.Deployment{}
				obj = d
				defer func() { deployments[d.Name] = d }()
			case "v1 Service":
				obj = &corev1.Service{}
			case "v1 ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1 Secret":
				obj = &corev1.Secret{}
			case "v1 Namespace":
				obj = &corev1.Namespace{}
			case "autoscaling/v2 HorizontalPodAutoscaler":
				obj = &autoscalingv2.HorizontalPodAutoscaler{}
			default:
				t.Fatalf("%s: unexpected %s %s", f, head.APIVersion, head.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s: %s: %v", f, head.Kind, err)
			}
			switch o := obj.(type) {
			case *corev1.Service:
				services[o.Name] = true
			case *autoscalingv2.HorizontalPodAutoscaler:
				hpas[o.Name] = o.Spec.ScaleTargetRef.Name
				maxReplicas[o.Name] = o.Spec.MaxReplicas
			case *corev1.ConfigMap:
				if v, ok := o.Data["PARTITIONS"]; ok {
					if partitions, err = strconv.Atoi(v); err != nil {
						t.Fatalf("%s: PARTITIONS %q: %v", f, v, err)
					}
				}
			}
		}
	}
	t.Cleanup(func() {
		for _, name := range service.AllServices {
			d, ok := deployments[name]
			if !ok || !services[name] || hpas[name] != name {
				t.Errorf("%s: deployment %v, service %v, autoscaler for %q", name, ok, services[name], hpas[name])
				continue
			}
			for k, v := range d.Spec.Selector.MatchLabels {
				if d.Spec.Template.Labels[k] != v {
					t.Errorf("%s: the selector does not select the pods", name)
				}
			}
			if partitions == 0 || int(maxReplicas[name]) > partitions {
				t.Errorf("%s: at most %d replicas, more than the %d partitions that can be active", name, maxReplicas[name], partitions)
			}
			c := d.Spec.Template.Spec.Containers[0]
			if c.LivenessProbe == nil || c.ReadinessProbe == nil || c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: probes and resources are required", name)
			}
			if sc := d.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				t.Errorf("%s: must not run as root", name)
			}
		}
	})
}

// exported scrapes a running system's /metrics after an order.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	cfg := service.DefaultConfig()
	// A provider, so that its breaker is exported; the order below has no
	// contact and is told on the log channel, so nothing is sent to it.
	cfg.Notify.Webhook.URL, cfg.Notify.Webhook.Secret = "http://127.0.0.1:9/push", "deploy-test-secret-0123"
	ctx := context.Background()
	sys, err := service.New(ctx, cfg, slog.New(slog.DiscardHandler), service.Adapters{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sys.Shutdown(ctx) }()
	// What the in-process run has no sample of: a broker's backlog, a
	// dead letter and a message parked behind it.
	m := sys.Platform().Metrics
	m.Broker("test", func(context.Context) (map[string]float64, error) { return map[string]float64{"test-group": 0}, nil })
	m.DeadLetter("test-handler")
	m.Parking("test-handler", "parked")
	orders := httptest.NewServer(sys.Service(service.Orders).Handler)
	defer orders.Close()
	body := `{"customerId":"c","items":[{"productId":"prod-123","productName":"Laptop","quantity":1,"unitPrice":1}]}`
	if resp, err := http.Post(orders.URL+"/orders", "application/json", strings.NewReader(body)); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("order: %v %v", resp, err)
	}
	scrape := func() []byte {
		resp, err := http.Get(orders.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		text, _ := io.ReadAll(resp.Body)
		return text
	}
	// Until the order is confirmed and its customer told, every family has a
	// sample. One scrape reads the families one after another, so the one
	// that shows the end of the flow may have read others before it: once
	// it shows, scrape again.
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(10 * time.Millisecond) {
		if bytes.Contains(scrape(), []byte(`shop_notifications_total{channel="log",status="logged"} 2`)) {
			break
		}
	}
	text := scrape()
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)`).FindAllStringSubmatch(string(text), -1) {
		names[m[1]] = true
		if m[2] == "histogram" {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				names[m[1]+suffix] = true
			}
		}
	}
	return names
}

func TestDashboardsAndAlertsUseExportedMetrics(t *testing.T) {
	t.Parallel()
	names := exported(t)
	metric := regexp.MustCompile(`\bshop_[a-z_]+\b`)
	check := func(where, expr string) {
		for _, m := range metric.FindAllString(expr, -1) {
			if !names[m] {
				t.Errorf("%s uses %s, which no service exports", where, m)
			}
		}
	}
	dashboards, _ := filepath.Glob("grafana/dashboards/*.json")
	if len(dashboards) < 4 {
		t.Fatalf("%d dashboards", len(dashboards))
	}
	for _, f := range dashboards {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID    string `json:"uid"`
			Title  string `json:"title"`
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&d); err != nil || d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Fatalf("%s: %v %+v", f, err, d)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				check(fmt.Sprintf("%s %q", f, p.Title), tg.Expr)
			}
		}
	}
	raw, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
				Expr  string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil || len(rules.Groups) == 0 {
		t.Fatalf("alerts: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			check("alert "+r.Alert, r.Expr)
		}
	}
}
