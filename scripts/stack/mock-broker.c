/*
 * A Kafka-protocol broker for machines without Kafka: librdkafka's in-memory
 * mock cluster, kept alive until SIGTERM/SIGINT.
 *
 * usage: mock-broker <brokers> <partitions> <topic>...
 * Prints "BOOTSTRAP <host:port,...>" once the cluster listens.
 * SIGUSR1 takes every broker down, SIGUSR2 brings them back (for outage tests).
 * Data lives in memory only: restarting the broker starts from empty topics.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t wanted_up = 1;

static void on_stop(int sig) { (void)sig; stop_requested = 1; }
static void on_down(int sig) { (void)sig; wanted_up = 0; }
static void on_up(int sig) { (void)sig; wanted_up = 1; }

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s <brokers> <partitions> <topic>...\n", argv[0]);
    return 2;
  }
  int brokers = atoi(argv[1]);
  int partitions = atoi(argv[2]);
  if (brokers < 1 || partitions < 1) {
    fprintf(stderr, "brokers and partitions must be positive integers\n");
    return 2;
  }
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    fprintf(stderr, "rd_kafka_new failed: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (!cluster) {
    fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
    return 1;
  }
  int replication = brokers < 3 ? brokers : 3;
  for (int i = 3; i < argc; i++) {
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster, argv[i], partitions, replication);
    if (err) {
      fprintf(stderr, "creating topic %s failed: %s\n", argv[i], rd_kafka_err2str(err));
      return 1;
    }
  }
  signal(SIGTERM, on_stop);
  signal(SIGINT, on_stop);
  signal(SIGUSR1, on_down);
  signal(SIGUSR2, on_up);
  printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  fflush(stdout);

  int is_up = 1;
  while (!stop_requested) {
    if (wanted_up != is_up) {
      is_up = wanted_up;
      for (int id = 1; id <= brokers; id++) {
        if (is_up) rd_kafka_mock_broker_set_up(cluster, id);
        else rd_kafka_mock_broker_set_down(cluster, id);
      }
      printf(is_up ? "UP\n" : "DOWN\n");
      fflush(stdout);
    }
    usleep(50 * 1000);
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}
