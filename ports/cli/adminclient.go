package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"shop/app/operations"
	"shop/ports/opsview"
)

// operator is what the operators' commands run: the use cases themselves,
// on the servers of the environment, or those of a running orders service
// through its admin API.
type operator interface {
	DeadLetters(ctx context.Context, f operations.DeadLetterFilter) ([]operations.DeadLetter, error)
	DeadLetter(ctx context.Context, id string) (operations.DeadLetter, error)
	DeadLetterStats(ctx context.Context, f operations.DeadLetterFilter) (operations.Stats, error)
	ReplayDeadLetters(ctx context.Context, f operations.DeadLetterFilter, maxReplays int, dryRun bool, pace operations.Pace, by string, progress operations.Progress) (operations.Report, error)
	DiscardDeadLetters(ctx context.Context, f operations.DeadLetterFilter, dryRun bool, by string) (operations.Report, error)
	Replay(ctx context.Context, r operations.ReplayRequest, progress operations.Progress) (operations.Report, error)
	Projections() []string
	RebuildProjection(ctx context.Context, name string, progress operations.Progress) (operations.RebuildReport, error)
	EraseCustomer(ctx context.Context, customerID string) (operations.Erasure, error)
	RebuildSnapshots(ctx context.Context, aggregateType string, progress operations.Progress) ([]operations.SnapshotReport, error)
}

// adminClient runs the operators' commands on a running orders service's
// admin API (--server, SHOP_SERVER), with its bearer token (--token,
// ADMIN_TOKEN): the way to the data of the embedded mode, which lives in the
// serving process only, and to a deployment the operator reaches over HTTP.
// Written here because the admin API is this project's own.
type adminClient struct {
	base        string
	token       string
	client      *http.Client
	projections []string
}

func newAdminClient(server, token string, projections []string) (*adminClient, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: --server %q: want a URL such as http://localhost:3001", errUsage, server)
	}
	if token == "" {
		return nil, fmt.Errorf("%w: the admin API needs its token: --token or ADMIN_TOKEN", errUsage)
	}
	// A replay or a rebuild answers when it is done: no overall timeout, the
	// command's context bounds it.
	return &adminClient{base: strings.TrimRight(server, "/"), token: token, client: &http.Client{}, projections: projections}, nil
}

// call sends a request and decodes the answer's body into into; an error
// answer is the API's message, a refusal (4xx) exiting as a wrong command.
func (c *adminClient) call(ctx context.Context, method, path string, query url.Values, body, into any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("the admin API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		err := fmt.Errorf("%s (%s)", msg, resp.Status)
		if resp.StatusCode < 500 && resp.StatusCode != http.StatusConflict && resp.StatusCode != http.StatusUnauthorized {
			return refusedCommand{err}
		}
		return err
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("the admin API's answer: %w", err)
	}
	return nil
}

func filterQuery(f operations.DeadLetterFilter) url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("handler", f.Handler)
	set("topic", f.Topic)
	set("eventType", f.EventType)
	set("reason", f.Reason)
	set("ids", strings.Join(f.IDs, ","))
	set("since", opsTime(f.Since))
	set("until", opsTime(f.Until))
	var statuses []string
	for _, s := range f.Statuses {
		statuses = append(statuses, s.String())
	}
	set("status", strings.Join(statuses, ","))
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(min(f.Limit, 100)))
	}
	return q
}

func opsTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// deadLetterBody is the admin API's dead letter selection.
func deadLetterBody(f operations.DeadLetterFilter, dryRun bool, maxReplays int, pace operations.Pace) map[string]any {
	var statuses []string
	for _, s := range f.Statuses {
		statuses = append(statuses, s.String())
	}
	delay := pace.Delay
	if pace.Rate > 0 {
		delay = time.Duration(float64(time.Second) / pace.Rate)
	}
	return map[string]any{
		"ids": f.IDs, "handler": f.Handler, "topic": f.Topic, "eventType": f.EventType, "reason": f.Reason,
		"since": opsTime(f.Since), "until": opsTime(f.Until), "statuses": statuses, "limit": f.Limit,
		"dryRun": dryRun, "delayMs": delay.Milliseconds(), "maxReplays": maxReplays, "all": f.All,
	}
}

func (c *adminClient) DeadLetters(ctx context.Context, f operations.DeadLetterFilter) ([]operations.DeadLetter, error) {
	var out struct {
		DeadLetters []opsview.DeadLetter `json:"deadLetters"`
	}
	if err := c.call(ctx, http.MethodGet, "/admin/dead-letters", filterQuery(f), nil, &out); err != nil {
		return nil, err
	}
	return mapViews(out.DeadLetters)
}

func (c *adminClient) DeadLetter(ctx context.Context, id string) (operations.DeadLetter, error) {
	var out struct {
		DeadLetter opsview.DeadLetter `json:"deadLetter"`
	}
	if err := c.call(ctx, http.MethodGet, "/admin/dead-letters/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return operations.DeadLetter{}, err
	}
	return opsview.ToDeadLetter(out.DeadLetter)
}

func (c *adminClient) DeadLetterStats(ctx context.Context, f operations.DeadLetterFilter) (operations.Stats, error) {
	var out struct {
		Stats opsview.Stats `json:"stats"`
	}
	if err := c.call(ctx, http.MethodGet, "/admin/dead-letters/stats", filterQuery(f), nil, &out); err != nil {
		return operations.Stats{}, err
	}
	return opsview.ToStats(out.Stats), nil
}

func (c *adminClient) ReplayDeadLetters(ctx context.Context, f operations.DeadLetterFilter, maxReplays int, dryRun bool, pace operations.Pace, by string, _ operations.Progress) (operations.Report, error) {
	return c.report(ctx, "/admin/dead-letters/replay", deadLetterBody(f, dryRun, maxReplays, pace))
}

func (c *adminClient) DiscardDeadLetters(ctx context.Context, f operations.DeadLetterFilter, dryRun bool, _ string) (operations.Report, error) {
	return c.report(ctx, "/admin/dead-letters/discard", deadLetterBody(f, dryRun, 0, operations.Pace{}))
}

func (c *adminClient) Replay(ctx context.Context, r operations.ReplayRequest, _ operations.Progress) (operations.Report, error) {
	return c.report(ctx, "/admin/replay", map[string]any{
		"eventType": r.EventType, "aggregateId": r.AggregateID, "eventIds": r.EventIDs,
		"startDate": opsTime(r.Since), "endDate": opsTime(r.Until), "status": r.Status, "services": r.Services,
		"limit": r.Limit, "dryRun": r.DryRun, "delayMs": r.Pace.Delay.Milliseconds(), "maxReplays": r.MaxReplays, "all": r.All,
	})
}

func (c *adminClient) report(ctx context.Context, path string, body any) (operations.Report, error) {
	var out struct {
		Report opsview.Report `json:"report"`
	}
	if err := c.call(ctx, http.MethodPost, path, nil, body, &out); err != nil {
		return operations.Report{}, err
	}
	return opsview.ToReport(out.Report)
}

func (c *adminClient) Projections() []string { return c.projections }

func (c *adminClient) RebuildProjection(ctx context.Context, name string, _ operations.Progress) (operations.RebuildReport, error) {
	var out struct {
		Rebuilds []opsview.Rebuild `json:"rebuilds"`
	}
	if err := c.call(ctx, http.MethodPost, "/admin/projections/rebuild", nil, map[string]string{"projection": name}, &out); err != nil {
		return operations.RebuildReport{}, err
	}
	if len(out.Rebuilds) != 1 {
		return operations.RebuildReport{}, errors.New("the admin API answered the rebuild without its report")
	}
	return opsview.ToRebuild(out.Rebuilds[0]), nil
}

func (c *adminClient) RebuildSnapshots(ctx context.Context, aggregateType string, _ operations.Progress) ([]operations.SnapshotReport, error) {
	var out struct {
		Snapshots []opsview.SnapshotRebuild `json:"snapshots"`
	}
	if err := c.call(ctx, http.MethodPost, "/admin/snapshots/rebuild", nil, map[string]string{"aggregateType": aggregateType}, &out); err != nil {
		return nil, err
	}
	reports := make([]operations.SnapshotReport, len(out.Snapshots))
	for i, v := range out.Snapshots {
		reports[i] = opsview.ToSnapshotRebuild(v)
	}
	return reports, nil
}

func (c *adminClient) EraseCustomer(ctx context.Context, customerID string) (operations.Erasure, error) {
	var out struct {
		Erasure *opsview.Erasure `json:"erasure"`
	}
	if err := c.call(ctx, http.MethodPost, "/admin/customers/"+url.PathEscape(customerID)+"/erase", nil, nil, &out); err != nil {
		return operations.Erasure{}, err
	}
	if out.Erasure == nil {
		return operations.Erasure{}, errors.New("the admin API answered the erasure without its report")
	}
	return opsview.ToErasure(*out.Erasure), nil
}

func mapViews(views []opsview.DeadLetter) ([]operations.DeadLetter, error) {
	out := make([]operations.DeadLetter, len(views))
	for i, v := range views {
		d, err := opsview.ToDeadLetter(v)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}
