"""credstats' interfaces: the command line now, Slack next. Nothing here writes SQL; every
answer comes from `metrics.run`."""
