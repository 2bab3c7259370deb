package tune_test

const tuneDriverEnv = "RAYO_TUNE_TEST_DRIVER"

func killedDriver() int { return 0 }
