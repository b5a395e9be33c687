package cache

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
)

// KeyPrefix namespaces and versions every key the resolver writes.
const KeyPrefix = "previewgate:v1:"

// RedisConfig configures the Redis cache (Daytona's REDIS_* variables).
type RedisConfig struct {
	// Network is "tcp" (default) or "unix".
	Network string
	// Addr is "host:port", or a socket path for "unix".
	Addr string
	// Username and Password authenticate (ACL user or requirepass).
	Username, Password string
	// TLS connects with TLS (server name from Addr).
	TLS bool
	// Timeout bounds dialing and each command. Default 300 ms: a cache
	// that is slower than that is worse than none.
	Timeout time.Duration
	// Cooldown is how long the cache stays away from the server after a
	// command failed: commands then answer decide.ErrCacheSkipped at once
	// (a miss). Default 5 s. Without it a hung server cost every command
	// its timeout, and a decision makes up to nine: 504 for all.
	Cooldown time.Duration
}

// Redis is a cache shared by every resolver that uses the same server.
type Redis struct {
	c        *redis.Client
	cooldown time.Duration
	// skipUntil is the end of the current cooldown (unix nanoseconds).
	skipUntil atomic.Int64
}

// NewRedis returns a Redis cache. It does not connect: the first command
// does (see Ping).
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if cfg.Addr == "" {
		return nil, errors.New("cache: Redis address is required")
	}
	if cfg.Network == "" {
		cfg.Network = "tcp"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 300 * time.Millisecond
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = 5 * time.Second
	}
	opt := &redis.Options{
		Network:      cfg.Network,
		Addr:         cfg.Addr,
		Username:     cfg.Username,
		Password:     cfg.Password,
		Protocol:     2,
		DialTimeout:  cfg.Timeout,
		ReadTimeout:  cfg.Timeout,
		WriteTimeout: cfg.Timeout,
		PoolTimeout:  cfg.Timeout,
		MaxRetries:   1,
		// go-redis dials 5 times, 100 ms apart, by default: a dead server
		// would then cost half a second per command.
		DialerRetries:      1,
		DialerRetryTimeout: 10 * time.Millisecond,
		DisableIdentity:    true,
		// Maintenance notifications need RESP3; we speak RESP2.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if cfg.TLS {
		host, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			host = cfg.Addr
		}
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return &Redis{c: redis.NewClient(opt), cooldown: cfg.Cooldown}, nil
}

// skip reports whether the cache is cooling down after a failure.
func (r *Redis) skip() bool {
	return time.Now().UnixNano() < r.skipUntil.Load()
}

// failed starts a cooldown when err is the server's fault (not a miss,
// not the caller giving up).
func (r *Redis) failed(ctx context.Context, err error) {
	if err != nil && !errors.Is(err, redis.Nil) && ctx.Err() == nil {
		r.skipUntil.Store(time.Now().Add(r.cooldown).UnixNano())
	}
}

// Get returns the value stored under key.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if r.skip() {
		return nil, false, decide.ErrCacheSkipped
	}
	b, err := r.c.Get(ctx, KeyPrefix+key).Bytes()
	r.failed(ctx, err)
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("cache: redis get: %w", err)
	}
	return b, true, nil
}

// Set stores value under key for ttl (SET PX).
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return ErrNoTTL
	}
	if r.skip() {
		return decide.ErrCacheSkipped
	}
	if err := r.c.Set(ctx, KeyPrefix+key, value, ttl).Err(); err != nil {
		r.failed(ctx, err)
		return fmt.Errorf("cache: redis set: %w", err)
	}
	return nil
}

// SetNX stores value under key for ttl if it is absent (SET NX PX).
func (r *Redis) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, ErrNoTTL
	}
	if r.skip() {
		return false, decide.ErrCacheSkipped
	}
	ok, err := r.c.SetNX(ctx, KeyPrefix+key, value, ttl).Result()
	if err != nil {
		r.failed(ctx, err)
		return false, fmt.Errorf("cache: redis setnx: %w", err)
	}
	return ok, nil
}

// Ping checks the connection.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cache: redis ping: %w", err)
	}
	return nil
}

// SetRedisLogger sends go-redis's own log lines (it has one global logger)
// to logger at level Warn.
func SetRedisLogger(logger *slog.Logger) {
	redis.SetLogger(redisLogger{logger})
}

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// Close closes the connection pool.
func (r *Redis) Close() error { return r.c.Close() }

var _ decide.Cache = (*Redis)(nil)
