package main

import (
	"fmt"
	"os"
	"strings"

	legolog "github.com/go-acme/lego/v4/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/renewd/renewd/internal/acme"
)

// newLogger builds the process logger: readable console lines on a
// terminal, JSON otherwise (journald, files), on stderr. lego's global
// logger is pointed at it once, here, at debug level: lego's chatter is
// useful when debugging and noise otherwise.
func newLogger(level, defaultLevel string) (*zap.Logger, error) {
	if level == "" {
		level = defaultLevel
	}
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fail(exitUsage, "--log-level %q: use debug, info, warn or error", level)
	}
	var enc zapcore.Encoder
	if term.IsTerminal(int(os.Stderr.Fd())) {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05")
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	}
	log := zap.New(zapcore.NewCore(enc, zapcore.Lock(os.Stderr), lvl))
	// Masked: lego logs what an exec DNS script prints and a provider's
	// failed cleanup, either of which may carry a credential.
	legolog.Logger = acme.MaskingLogger(legoLogger{log.Named("lego").WithOptions(zap.AddCallerSkip(3)).Sugar()})
	return log, nil
}

// legoLogger adapts zap to lego's StdLogger. lego prefixes its lines with
// "[INFO] " or "[WARN] "; warnings stay warnings, the rest is debug. Fatal
// never exits: a library must not end the daemon.
type legoLogger struct{ s *zap.SugaredLogger }

func (l legoLogger) emit(msg string) {
	msg = strings.TrimRight(msg, "\n")
	if m, ok := strings.CutPrefix(msg, "[WARN] "); ok {
		l.s.Warn(m)
		return
	}
	msg = strings.TrimPrefix(msg, "[INFO] ")
	l.s.Debug(msg)
}

func (l legoLogger) Fatal(args ...any)                 { l.s.Error(fmt.Sprint(args...)) }
func (l legoLogger) Fatalln(args ...any)               { l.s.Error(fmt.Sprintln(args...)) }
func (l legoLogger) Fatalf(format string, args ...any) { l.s.Errorf(format, args...) }
func (l legoLogger) Print(args ...any)                 { l.emit(fmt.Sprint(args...)) }
func (l legoLogger) Println(args ...any)               { l.emit(fmt.Sprintln(args...)) }
func (l legoLogger) Printf(format string, args ...any) { l.emit(fmt.Sprintf(format, args...)) }
