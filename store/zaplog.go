package store

import (
	"errors"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewZapLogger returns a zap logger, as the etcd server and client want, that
// writes to l. etcd is chatty and logs routine events (a graceful shutdown
// among them) as errors, so every line is demoted one level: etcd's Info
// becomes Debug, Warn becomes Info, Error and above become Warn. Lines that
// are routine on every healthy start and stop go to Debug (see routine). A
// nil l gives a logger that discards everything.
func NewZapLogger(l hclog.Logger) *zap.Logger {
	if l == nil {
		return zap.NewNop()
	}
	return zap.New(&hclogCore{log: l})
}

// hclogCore is a zapcore.Core that forwards entries to an hclog.Logger.
type hclogCore struct {
	log    hclog.Logger
	fields []zapcore.Field
}

func demote(l zapcore.Level) hclog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return hclog.Trace
	case l == zapcore.InfoLevel:
		return hclog.Debug
	case l == zapcore.WarnLevel:
		return hclog.Info
	default:
		return hclog.Warn
	}
}

func (c *hclogCore) Enabled(l zapcore.Level) bool {
	return c.log.GetLevel() <= demote(l)
}

func (c *hclogCore) With(fields []zapcore.Field) zapcore.Core {
	all := make([]zapcore.Field, 0, len(c.fields)+len(fields))
	all = append(append(all, c.fields...), fields...)
	return &hclogCore{log: c.log, fields: all}
}

func (c *hclogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *hclogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	args := make([]any, 0, 2*len(enc.Fields)+2)
	if e.LoggerName != "" {
		args = append(args, "component", e.LoggerName)
	}
	for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
		args = append(args, k, enc.Fields[k])
	}
	level := demote(e.Level)
	if routine(e.Message, c.fields) || routine(e.Message, fields) {
		level = min(level, hclog.Debug)
	}
	c.log.Log(level, e.Message, args...)
	return nil
}

// routineAdvice are warnings the embedded etcd logs on every start that do not
// apply to it: it serves no HTTP clients, and has no users (so no tokens).
var routineAdvice = map[string]bool{
	"Running http and grpc server on single port. This is not recommended for production.": true,
	"simple token is not cryptographically signed":                                         true,
}

// routine reports whether an etcd log line is no news: start-up advice that
// does not apply, a request that this program abandoned itself (the client
// logs each canceled call as a failed retry, e.g. when Connect takes the first
// member's answer and cancels the others), or a listener or server reporting
// that it was closed by a graceful stop. Real failures (refused connections,
// timeouts, lost leaders) keep their level.
func routine(msg string, fields []zapcore.Field) bool {
	if routineAdvice[msg] {
		return true
	}
	for _, f := range fields {
		err, ok := f.Interface.(error)
		if f.Type != zapcore.ErrorType || !ok {
			continue
		}
		// IsConnCanceled also takes "transport is closing" (the server went away): not routine.
		canceled := clientv3.IsConnCanceled(err) && !strings.Contains(err.Error(), "transport is closing")
		if canceled || errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) ||
			err.Error() == "mux: server closed" { // cmux.ErrServerClosed, etcd's listener multiplexer
			return true
		}
	}
	return false
}

func (c *hclogCore) Sync() error { return nil }
