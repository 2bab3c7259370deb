"""Python functions the Go program examples/python/calc calls by name."""


def square(x):
    return x * x


class Greeter:
    def __init__(self, greeting):
        self.greeting = greeting

    def greet(self, name):
        return "%s, %s" % (self.greeting, name)
