package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	goredis "github.com/redis/go-redis/v9"

	"shop/cqrs/metadata"
)

// StreamsConfig is how the bus uses Redis Streams.
type StreamsConfig struct {
	// Consumer names this process in every consumer group
	// (REDIS_CONSUMER_NAME). It must be stable across restarts and unique
	// among replicas: a restarted process then finds its own pending messages.
	Consumer string
	// ClaimIdle is how long a message may stay pending with a consumer that
	// no longer refreshes it before another consumer of its group claims it
	// (REDIS_CLAIM_IDLE): the time a dead consumer's messages wait. A live
	// consumer keeps what it holds however long its handler takes (KeepHeld).
	ClaimIdle time.Duration
	// Subscriptions bounds how many streams the process reads at once: each
	// blocking read holds a connection of its own.
	Subscriptions int
	// ReadFailed, when set, is told of every failed read of a consumer group,
	// and whether the group was found missing and created again.
	ReadFailed func(consumerGroup string, recreated bool)
}

// Validate reports every setting out of range.
func (c StreamsConfig) Validate() error {
	var err error
	if c.Consumer == "" {
		err = errors.Join(err, errors.New("BUS=redis needs REDIS_CONSUMER_NAME (or a host name)"))
	}
	// A live consumer refreshes what it holds every third of it.
	if c.ClaimIdle < time.Second {
		err = errors.Join(err, errors.New("REDIS_CLAIM_IDLE must be at least 1000 (ms)"))
	}
	return err
}

// Streams is the Redis Streams bus. Topics are streams; each consumer group
// of the system is a Redis consumer group on each stream it reads, so every
// group gets every message while the replicas of a service compete for them.
// Nothing is trimmed when published: the Trimmer removes only what every
// group has acknowledged.
type Streams struct {
	cfg       StreamsConfig
	logger    watermill.LoggerAdapter
	readers   *goredis.Client
	writer    *goredis.Client
	publisher *redisstream.Publisher

	mu sync.Mutex
	// topics are the streams Declare was given: the platform's topics, which
	// a process declares before it serves. The trimmer and the backlog look
	// at them only, not at whatever else a shared Redis holds.
	topics map[string]bool
	// groups are the consumer groups declared on each topic.
	groups map[string][]string
	// reading counts this process's subscriptions of each group on each
	// topic: the entries it holds there KeepHeld keeps from being claimed.
	reading map[subscription]int
	// failures holds each consumer group's last failed read.
	failures map[string]readFailure
}

type readFailure struct {
	at  time.Time
	err string
}

// NewStreams connects the bus to url.
func NewStreams(url string, cfg StreamsConfig, logger watermill.LoggerAdapter) (*Streams, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	readOpts := *opts
	// Room for every subscription of the process, and for more made later
	// (tools, tests) beside them.
	readOpts.PoolSize = 2*cfg.Subscriptions + 32
	readOpts.ReadTimeout = 5 * time.Second
	s := &Streams{cfg: cfg, logger: logger, readers: goredis.NewClient(&readOpts), writer: goredis.NewClient(opts), topics: map[string]bool{}, groups: map[string][]string{}, reading: map[subscription]int{}, failures: map[string]readFailure{}}
	s.publisher, err = redisstream.NewPublisher(redisstream.PublisherConfig{Client: sharedClient{s.writer}, Marshaller: unmarshaller{}}, logger)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Publisher appends to the stream of each topic.
func (s *Streams) Publisher() message.Publisher { return s.publisher }

// Subscriber reads a consumer group's messages.
func (s *Streams) Subscriber(consumerGroup string) (message.Subscriber, error) {
	reads := &fencedReads{sharedClient: sharedClient{s.readers}}
	reads.done = sync.NewCond(&reads.mu)
	sub, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
		Client:        reads,
		Unmarshaller:  unmarshaller{},
		Consumer:      s.cfg.Consumer,
		ConsumerGroup: consumerGroup,
		ClaimInterval: max(s.cfg.ClaimIdle/4, 100*time.Millisecond),
		MaxIdleTime:   s.cfg.ClaimIdle,
		// Start at the stream's first entry: a group created after events
		// were published still gets them.
		OldestId:                      "0",
		DisableIndefiniteInitialBlock: true,
		// A read cut short because the subscriber is stopping is no error;
		// any other read error is noted, logged and the read retried.
		ShouldStopOnReadErrors: func(err error) bool {
			if errors.Is(err, context.Canceled) || errors.Is(err, errReadsFenced) {
				return true
			}
			s.readFailed(consumerGroup, err)
			return false
		},
	}, s.logger)
	if err != nil {
		return nil, err
	}
	return &readingSubscriber{Subscriber: sub, streams: s, group: consumerGroup, reads: reads}, nil
}

var errReadsFenced = errors.New("subscriber closed: no more reads")

// fencedReads is a subscriber's client, which counts the reads and claims
// under way so that a closed subscriber can wait until none is left.
//
// Written here because watermill-redisstream's Close does not wait for its
// reading goroutine: a blocking XREADGROUP sent just before the close is
// still served by Redis, up to its block time later, and the entry it takes
// goes into this consumer's pending list and nowhere else. Were the
// subscriber's entries handed back before that read ended, the partition's
// next owner, already reading, would meet that entry only after ClaimIdle.
type fencedReads struct {
	sharedClient

	mu       sync.Mutex
	done     *sync.Cond
	underWay int
	fenced   bool
}

func (f *fencedReads) begin() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fenced {
		return false
	}
	f.underWay++
	return true
}

func (f *fencedReads) end() {
	f.mu.Lock()
	f.underWay--
	f.done.Broadcast()
	f.mu.Unlock()
}

// fence refuses every read and claim from now on and returns once those
// under way have ended: Redis answered them, or gave up.
func (f *fencedReads) fence() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fenced = true
	for f.underWay > 0 {
		f.done.Wait()
	}
}

func (f *fencedReads) XReadGroup(ctx context.Context, a *goredis.XReadGroupArgs) *goredis.XStreamSliceCmd {
	if !f.begin() {
		cmd := goredis.NewXStreamSliceCmd(ctx)
		cmd.SetErr(errReadsFenced)
		return cmd
	}
	defer f.end()
	return f.sharedClient.XReadGroup(ctx, a)
}

func (f *fencedReads) XClaim(ctx context.Context, a *goredis.XClaimArgs) *goredis.XMessageSliceCmd {
	if !f.begin() {
		cmd := goredis.NewXMessageSliceCmd(ctx)
		cmd.SetErr(errReadsFenced)
		return cmd
	}
	defer f.end()
	return f.sharedClient.XClaim(ctx, a)
}

type subscription struct{ topic, group string }

// readingSubscriber tells the bus which groups and topics this process
// reads. Once it closes, what it still holds of them (entries read ahead
// and never handed on, as a partition moves to another replica) is no longer
// kept, and is marked claimable at once: the partition's next owner takes it
// first (TakeOver) rather than after ClaimIdle, or never while this process
// lives and keeps refreshing it.
type readingSubscriber struct {
	message.Subscriber
	streams *Streams
	group   string
	reads   *fencedReads

	mu     sync.Mutex
	topics []string
}

func (r *readingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	msgs, err := r.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.topics = append(r.topics, topic)
	r.mu.Unlock()
	r.streams.mu.Lock()
	r.streams.reading[subscription{topic, r.group}]++
	r.streams.mu.Unlock()
	return msgs, nil
}

func (r *readingSubscriber) Close() error {
	err := r.Subscriber.Close()
	// Only then is nothing more taken from the group under this consumer.
	r.reads.fence()
	r.mu.Lock()
	topics := r.topics
	r.topics = nil
	r.mu.Unlock()
	for _, topic := range topics {
		key := subscription{topic, r.group}
		r.streams.mu.Lock()
		r.streams.reading[key]--
		last := r.streams.reading[key] <= 0
		if last {
			delete(r.streams.reading, key)
		}
		r.streams.mu.Unlock()
		if last {
			r.handBack(topic)
		}
	}
	return err
}

// handBack marks what this process still holds of the group on topic as
// claimable at once. It is a courtesy to the next owner, who would otherwise
// claim it after ClaimIdle: when it cannot be done (Redis away, the bus
// already closed as the process stops) the entries are claimed then.
func (r *readingSubscriber) handBack(topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := r.streams.claimOwn(ctx, topic, r.group, 0, r.streams.cfg.ClaimIdle)
	if err != nil && !goredis.HasErrorPrefix(err, "NOGROUP") && !errors.Is(err, goredis.ErrClosed) {
		r.streams.logger.Info("entries held not handed back; another consumer claims them after the claim idle time",
			watermill.LogFields{"consumer_group": r.group, "topic": topic, "error": err.Error()})
	}
}

// readFailed notes a failed read of a consumer group. When the group is
// gone, as when Redis lost its data (a restart without persistence, a
// failover to an empty replica, a flush), it is created again on every
// topic it was declared on: watermill-redisstream creates groups only when
// it subscribes, and would read NOGROUP for good while the publishers fill
// the streams they re-created. Created again from the stream's start,
// since everything in a stream made after the loss is new.
func (s *Streams) readFailed(consumerGroup string, err error) {
	s.mu.Lock()
	s.failures[consumerGroup] = readFailure{at: time.Now(), err: err.Error()}
	var topics []string
	for topic, groups := range s.groups {
		if slices.Contains(groups, consumerGroup) {
			topics = append(topics, topic)
		}
	}
	s.mu.Unlock()
	recreated := false
	if goredis.HasErrorPrefix(err, "NOGROUP") {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, topic := range topics {
			switch err := s.writer.XGroupCreateMkStream(ctx, topic, consumerGroup, "0").Err(); {
			case err == nil:
				recreated = true
				s.logger.Error("consumer group was gone and is created again; what its stream held before is lost", nil,
					watermill.LogFields{"consumer_group": consumerGroup, "topic": topic})
			case !goredis.HasErrorPrefix(err, "BUSYGROUP"):
				s.logger.Error("consumer group cannot be created again", err, watermill.LogFields{"consumer_group": consumerGroup, "topic": topic})
			}
		}
	}
	if s.cfg.ReadFailed != nil {
		s.cfg.ReadFailed(consumerGroup, recreated)
	}
}

// ReadFailures lists the consumer groups whose reads failed within the last
// while, with the last error of each: reads are retried every half second
// or so, so a group that reads again drops out of the list soon after.
func (s *Streams) ReadFailures(within time.Duration) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	failing := map[string]string{}
	for group, f := range s.failures {
		if time.Since(f.at) <= within {
			failing[group] = f.err
		}
	}
	return failing
}

// Declare creates a consumer group on a topic's stream, so that the trimmer
// keeps what was published before the group's service first reads it, and
// takes back what this consumer's previous run left pending.
func (s *Streams) Declare(ctx context.Context, consumerGroup, topic string) error {
	err := s.writer.XGroupCreateMkStream(ctx, topic, consumerGroup, "0").Err()
	if err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("declare %s on %s: %w", consumerGroup, topic, err)
	}
	if err := s.reclaimOwnPending(ctx, consumerGroup, topic); err != nil {
		return fmt.Errorf("declare %s on %s: %w", consumerGroup, topic, err)
	}
	s.mu.Lock()
	s.topics[topic] = true
	if !slices.Contains(s.groups[topic], consumerGroup) {
		s.groups[topic] = append(s.groups[topic], consumerGroup)
	}
	s.mu.Unlock()
	return nil
}

// declared returns the declared topics whose names start with prefix.
func (s *Streams) declared(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for t := range s.topics {
		if strings.HasPrefix(t, prefix) {
			names = append(names, t)
		}
	}
	slices.Sort(names)
	return names
}

// reclaimOwnPending makes the entries still pending under this process's
// consumer name claimable at once. The name is this process's for good, so
// they were delivered to its previous run, which is gone; but the subscriber
// would claim them only once idle for ClaimIdle, and meanwhile read newer
// entries, putting an aggregate's later events before its earlier ones.
// Marked idle, they are taken by the subscriber's first claim, before it
// reads anything new.
func (s *Streams) reclaimOwnPending(ctx context.Context, consumerGroup, topic string) error {
	_, err := s.claimOwn(ctx, topic, consumerGroup, 0, s.cfg.ClaimIdle)
	return err
}

// KeepHeld keeps the entries this process holds from being claimed by
// another consumer of their group, until ctx is done: every third of
// ClaimIdle it resets the idle time of its pending entries that are not yet
// claimable.
//
// Written here because watermill-redisstream resets an entry's idle time
// only when it reads or claims it: an entry whose handler keeps failing
// while a dependency is down is nacked and handed to the handler again in
// memory, and the entry read ahead waits in memory, both growing idle in
// Redis. After ClaimIdle another replica would claim them while this one
// still works on them, the same message would be handled twice at once, and
// an aggregate's events could be handled out of order. A process that died
// stops refreshing, and its entries are claimed after ClaimIdle as before.
func (s *Streams) KeepHeld(ctx context.Context) {
	ticker := time.NewTicker(s.cfg.ClaimIdle / 3)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if _, err := s.refreshHeld(ctx); err != nil && ctx.Err() == nil {
				s.logger.Error("pending entries not refreshed; another consumer may claim them", err, nil)
			}
		}
	}
}

// claimPendingScript claims, to the consumer ARGV[3], a page of the entries
// pending with the consumer ARGV[2] (with any consumer when it is empty), and
// sets their idle time (ARGV[7], ms); JUSTID leaves their delivery count
// alone. With ARGV[6] > 0 only entries less idle than that are taken. It runs
// as one script so that an entry another consumer claimed between the
// listing and the claim is not taken back.
var claimPendingScript = goredis.NewScript(`
local list = {'XPENDING', KEYS[1], ARGV[1], ARGV[4], '+', tonumber(ARGV[5])}
if ARGV[2] ~= '' then
	list[#list + 1] = ARGV[2]
end
local pending = redis.call(unpack(list))
local below = tonumber(ARGV[6])
local args = {'XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0}
for _, p in ipairs(pending) do
	if below == 0 or tonumber(p[3]) < below then
		args[#args + 1] = p[1]
	end
end
local claimed = #args - 5
if claimed > 0 then
	args[#args + 1] = 'IDLE'
	args[#args + 1] = ARGV[7]
	args[#args + 1] = 'JUSTID'
	redis.call(unpack(args))
end
local last = ''
if #pending > 0 then
	last = pending[#pending][1]
end
return {claimed, #pending, last}
`)

// claimOwn claims again, to this consumer, the entries pending with it on a
// group, and returns how many it claimed.
func (s *Streams) claimOwn(ctx context.Context, topic, group string, below, idle time.Duration) (int, error) {
	return s.claim(ctx, topic, group, s.cfg.Consumer, below, idle)
}

// claim runs claimPendingScript over every page of the entries pending with from
// (with anyone when empty) and returns how many it claimed for this consumer.
func (s *Streams) claim(ctx context.Context, topic, group, from string, below, idle time.Duration) (int, error) {
	const page = 500
	claimed := 0
	start := "-"
	for {
		res, err := claimPendingScript.Run(ctx, s.writer, []string{topic}, group, from, s.cfg.Consumer, start, page, below.Milliseconds(), idle.Milliseconds()).Slice()
		if err != nil {
			return claimed, err
		}
		n, _ := res[0].(int64)
		listed, _ := res[1].(int64)
		last, _ := res[2].(string)
		claimed += int(n)
		if listed < page {
			return claimed, nil
		}
		start = "(" + last
	}
}

// TakeOver takes, for this consumer, every entry pending on a group with any
// consumer, as this replica takes the group's partition: what the previous
// owner was handed and did not acknowledge (it died, or its last
// acknowledgements were cut off as it closed). Marked idle, they are taken
// by the subscriber's first claim, before it reads anything new, so that the
// partition goes on where it stopped; the subscriber would claim them only
// after ClaimIdle, and meanwhile read newer entries out of order.
func (s *Streams) TakeOver(ctx context.Context, consumerGroup, topic string) error {
	n, err := s.claim(ctx, topic, consumerGroup, "", 0, s.cfg.ClaimIdle)
	if goredis.HasErrorPrefix(err, "NOGROUP") {
		// No group, so nothing held: Redis lost its data, or nothing was
		// published yet. The subscriber creates the group.
		return nil
	}
	if err != nil {
		return fmt.Errorf("take over %s on %s: %w", consumerGroup, topic, err)
	}
	if n > 0 {
		s.logger.Info("entries the previous owner held are taken over", watermill.LogFields{"consumer_group": consumerGroup, "topic": topic, "entries": n})
	}
	return nil
}

// refreshHeld resets the idle time of the entries held on every group this
// process reads, once, and returns how many it refreshed. Entries already claimable
// are left alone: they are a previous run's, which reclaimOwnPending marked
// for the subscriber to take and deliver again, and refreshing them would
// hide them from it. A group that fails does not keep the others from being
// refreshed.
func (s *Streams) refreshHeld(ctx context.Context) (int, error) {
	s.mu.Lock()
	reading := slices.Collect(maps.Keys(s.reading))
	s.mu.Unlock()
	refreshed := 0
	var errs []error
	for _, r := range reading {
		n, err := s.claimOwn(ctx, r.topic, r.group, s.cfg.ClaimIdle, 0)
		refreshed += n
		if err != nil && !goredis.HasErrorPrefix(err, "NOGROUP") { // NOGROUP: deleted since it was declared
			errs = append(errs, fmt.Errorf("refresh %s on %s: %w", r.group, r.topic, err))
		}
	}
	return refreshed, errors.Join(errs...)
}

// Ping checks that Redis answers.
func (s *Streams) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.writer.Ping(ctx).Err()
}

// Close closes the publisher and both pools.
func (s *Streams) Close() error {
	return errors.Join(s.publisher.Close(), s.readers.Close(), s.writer.Close())
}

// sharedClient keeps watermill-redisstream's publisher and subscribers from
// closing the pools they share; Close closes them.
type sharedClient struct{ goredis.UniversalClient }

func (sharedClient) Close() error { return nil }

// unmarshaller is watermill-redisstream's, except that it never fails: the
// subscriber stops reading its stream at a message it cannot unmarshal.
// Instead the message is handed on with metadata.UndecodableKey set, and the
// router poisons it with the reason.
type unmarshaller struct {
	redisstream.DefaultMarshallerUnmarshaller
}

func (u unmarshaller) Unmarshal(values map[string]any) (msg *message.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			msg, err = u.undecodable(values, fmt.Sprint("unreadable entry: ", p)), nil
		}
	}()
	msg, err = u.DefaultMarshallerUnmarshaller.Unmarshal(values)
	if err != nil {
		return u.undecodable(values, err.Error()), nil
	}
	return msg, nil
}

func (unmarshaller) undecodable(values map[string]any, reason string) *message.Message {
	id, _ := values[redisstream.UUIDHeaderKey].(string)
	if id == "" {
		id = watermill.NewUUID()
	}
	payload, _ := values["payload"].(string)
	msg := message.NewMessage(id, []byte(payload))
	msg.Metadata.Set(metadata.UndecodableKey, reason)
	return msg
}

// Trimmer removes stream entries that every consumer group of the stream has
// acknowledged, so that streams do not grow without bound, and never an entry
// that some group has not yet read or acknowledged. It is written here
// because Redis's own MAXLEN trimming counts entries, read or not, and
// watermill-redisstream offers nothing else.
type Trimmer struct {
	streams *Streams
	prefix  string
	logger  *slog.Logger
}

// NewTrimmer trims the streams of the topics declared on s whose names start
// with prefix, and no other: a shared Redis may hold consumer-group streams
// of other systems, under any name.
func (s *Streams) NewTrimmer(prefix string, logger *slog.Logger) *Trimmer {
	return &Trimmer{streams: s, prefix: prefix, logger: logger}
}

// Run trims every interval until ctx is done.
func (t *Trimmer) Run(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if _, err := t.Trim(ctx); err != nil && ctx.Err() == nil {
				t.logger.Warn("stream trim failed", "error", err)
			}
		}
	}
}

// Trim trims every topic's stream once and returns how many entries it removed.
func (t *Trimmer) Trim(ctx context.Context) (int64, error) {
	var removed int64
	for _, stream := range t.streams.declared(t.prefix) {
		n, err := t.trimStream(ctx, stream)
		if err != nil {
			return removed, err
		}
		removed += n
	}
	return removed, nil
}

func (t *Trimmer) trimStream(ctx context.Context, stream string) (int64, error) {
	groups, err := t.streams.writer.XInfoGroups(ctx, stream).Result()
	if goredis.HasErrorPrefix(err, "no such key") {
		return 0, nil // deleted since it was declared
	}
	if err != nil || len(groups) == 0 {
		// No group reads the stream yet: keep everything for the first one.
		return 0, err
	}
	var safe string
	for _, g := range groups {
		// Everything after last-delivered-id is unread; what was delivered but
		// not acknowledged is pending, from its lowest id on.
		bound := g.LastDeliveredID
		if g.Pending > 0 {
			p, err := t.streams.writer.XPending(ctx, stream, g.Name).Result()
			if err != nil {
				return 0, err
			}
			if p.Count > 0 && lessID(p.Lower, bound) {
				bound = p.Lower
			}
		}
		if safe == "" || lessID(bound, safe) {
			safe = bound
		}
	}
	if safe == "" || safe == "0-0" {
		return 0, nil
	}
	return t.streams.writer.XTrimMinID(ctx, stream, safe).Result()
}

// lessID compares stream ids ("ms-seq").
func lessID(a, b string) bool {
	var am, as, bm, bs uint64
	_, _ = fmt.Sscanf(a, "%d-%d", &am, &as)
	_, _ = fmt.Sscanf(b, "%d-%d", &bm, &bs)
	return am < bm || (am == bm && as < bs)
}

// Backlog reads, for every consumer group of the declared topics whose names
// start with prefix, how many entries it has not acknowledged: pending with a
// consumer, or not read yet.
func (s *Streams) Backlog(ctx context.Context, prefix string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, stream := range s.declared(prefix) {
		groups, err := s.writer.XInfoGroups(ctx, stream).Result()
		if goredis.HasErrorPrefix(err, "no such key") {
			continue
		}
		if err != nil {
			return out, err
		}
		for _, g := range groups {
			out[g.Name] = float64(g.Pending + max(g.Lag, 0))
		}
	}
	return out, nil
}
