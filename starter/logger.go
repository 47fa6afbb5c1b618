package main

import "go.temporal.io/sdk/converter"

// quietLogger drops the SDK's own log lines: the starter's stdout is read
// by the billing panel, which expects "success" or one error line.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

func (s *session) dataConverter() converter.DataConverter { return converter.GetDefaultDataConverter() }
