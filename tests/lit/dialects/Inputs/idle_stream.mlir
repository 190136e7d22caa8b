chip.stream core 3 "fc:4" {
}
