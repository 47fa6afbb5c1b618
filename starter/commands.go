package main

import (
	"context"
	"io"
)

// command is one starter command: how it prints for a person, and how it
// prints with --json (nil where --json is refused at parse time).
type command struct {
	text func(*session, context.Context, opts, io.Writer) (int, error)
	json func(*session, context.Context, opts, io.Writer) (int, error)
}

// commands is every command the starter takes. adopt, list and log read
// o.extra.json themselves, so one function serves both forms.
var commands = map[string]command{
	"terminate":     {text: (*session).terminate},
	"status":        {text: (*session).status, json: (*session).statusJSON}, // cli.go
	"reset":         {text: (*session).reset},
	"delete-record": {text: (*session).deleteRecord},
	"plan":          {text: (*session).plan, json: (*session).planJSON}, // cli.go
	"restore":       {text: (*session).restore},                         // grace.go
	"adopt":         {text: (*session).adopt, json: (*session).adopt},
	"list":          {text: (*session).list, json: (*session).list},
	"log":           {text: (*session).log, json: (*session).log},
}
