package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Series is one scrape of a service's /metrics: the value of every counter
// and gauge series, and the count of every histogram's (as name_count),
// keyed by name and labels as Prometheus writes them
// (shop_mongodb_commands_total{command="insert",database="orders"}).
type Series map[string]float64

// Scrape reads the counters and gauges a metrics endpoint serves.
func Scrape(ctx context.Context, client *http.Client, url string) (Series, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	s := Series{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				s[key(name, m.GetLabel())] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s[key(name, m.GetLabel())] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				s[key(name+"_count", m.GetLabel())] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return s, nil
}

func key(name string, labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return name
	}
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// Since is what each counter of s grew by since before.
func (s Series) Since(before Series) Series {
	d := Series{}
	for k, v := range s {
		if grown := v - before[k]; grown != 0 {
			d[k] = grown
		}
	}
	return d
}

// Sum adds up the series of a metric, grouped by one of its labels; with
// no label, everything under "".
func (s Series) Sum(metric, label string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		name, labels, _ := strings.Cut(k, "{")
		if name != metric {
			continue
		}
		group := ""
		if label != "" {
			group = labelValue(strings.TrimSuffix(labels, "}"), label)
		}
		out[group] += v
	}
	return out
}

// Value is the value of a series without labels, or the sum of a metric's series.
func (s Series) Value(metric string) float64 { return s.Sum(metric, "")[""] }

func labelValue(labels, name string) string {
	for _, pair := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if ok && k == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
