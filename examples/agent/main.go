// Command agent shows actors and tasks together: an agent whose
// conversation state lives in an actor, while the tool calls it plans fan
// out as tasks across the cluster. Run it with
//
//	go run ./examples/agent
//
// (embedded cluster), or with RAYO_ADDRESS=auto on a cluster started with
// `rayo start --head`.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/rayo-dev/rayo"
)

// Conversation is the agent's memory: it lives in one actor process, and
// every turn goes through it in order.
type Conversation struct {
	User    string
	History []string
}

// Turn is what the actor returns for one user message.
type Turn struct {
	Plan  []string // the tools the agent decided to call
	Turns int
}

func newConversation(user string) *Conversation { return &Conversation{User: user} }

// Plan records the user's message and picks tools for it.
func (c *Conversation) Plan(msg string) Turn {
	c.History = append(c.History, "user: "+msg)
	var plan []string
	lower := strings.ToLower(msg)
	if strings.ContainsAny(msg, "0123456789") {
		plan = append(plan, "calculator")
	}
	if strings.Contains(lower, "find") || strings.Contains(lower, "search") {
		plan = append(plan, "search")
	}
	plan = append(plan, "wordcount")
	return Turn{Plan: plan, Turns: len(c.History)}
}

// Record stores the agent's answer and returns the transcript length.
func (c *Conversation) Record(answer string) int {
	c.History = append(c.History, "agent: "+answer)
	return len(c.History)
}

// Transcript returns the whole conversation.
func (c *Conversation) Transcript() []string { return c.History }

var (
	conversation = rayo.RegisterActor[Conversation]("agent.Conversation", newConversation)
	plan         = rayo.RegisterMethod[Turn](conversation, "Plan", (*Conversation).Plan)
	record       = rayo.RegisterMethod[int](conversation, "Record", (*Conversation).Record)
	transcript   = rayo.RegisterMethod[[]string](conversation, "Transcript", (*Conversation).Transcript)
)

// Tools are plain tasks: they run wherever the cluster has room.
var (
	calculator = rayo.Register[string]("agent.calculator", func(msg string) string {
		sum := 0
		for _, f := range strings.FieldsFunc(msg, func(r rune) bool { return r < '0' || r > '9' }) {
			n, _ := strconv.Atoi(f)
			sum += n
		}
		return fmt.Sprintf("the numbers add up to %d", sum)
	})

	search = rayo.Register[string]("agent.search", func(msg string) string {
		corpus := map[string]string{
			"ray":  "Ray is a Python framework for distributed computing.",
			"rayo": "rayo runs Ray's programming model natively in Go.",
			"go":   "Go compiles to one static binary.",
		}
		var hits []string
		for _, w := range strings.Fields(strings.ToLower(msg)) {
			if doc, ok := corpus[strings.Trim(w, "?.,!")]; ok {
				hits = append(hits, doc)
			}
		}
		sort.Strings(hits)
		if len(hits) == 0 {
			return "nothing found"
		}
		return strings.Join(hits, " ")
	})

	wordcount = rayo.Register[string]("agent.wordcount", func(msg string) string {
		return fmt.Sprintf("%d words", len(strings.Fields(msg)))
	})

	tools = map[string]*rayo.Task[string]{"calculator": calculator, "search": search, "wordcount": wordcount}
)

func main() {
	ctx := context.Background()
	if err := rayo.Init(ctx); err != nil { // workers serve here and never return
		log.Fatal(err)
	}
	defer rayo.Shutdown()
	if err := run(ctx); err != nil {
		rayo.Shutdown()
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	agent, err := conversation.New(ctx, os.Getenv("USER"))
	if err != nil {
		return err
	}
	for _, msg := range []string{
		"Please find what rayo and go are.",
		"What is 19 plus 23?",
		"Thanks!",
	} {
		turn, err := plan.Remote(agent, msg).Get(ctx)
		if err != nil {
			return err
		}
		// Fan the tool calls out as tasks, then gather them.
		calls := make([]rayo.ObjectRef[string], len(turn.Plan))
		for i, name := range turn.Plan {
			calls[i] = tools[name].Remote(msg)
		}
		results, err := rayo.GetAll(ctx, calls)
		if err != nil {
			return err
		}
		var parts []string
		for i, r := range results {
			parts = append(parts, turn.Plan[i]+": "+r)
		}
		answer := strings.Join(parts, "; ")
		if _, err := record.Remote(agent, answer).Get(ctx); err != nil {
			return err
		}
		fmt.Printf("> %s\n  %s\n", msg, answer)
	}
	lines, err := transcript.Remote(agent).Get(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("the conversation actor holds %d messages\n", len(lines))
	return nil
}
