import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandExists, ensureDebianPackages } from './processes.ts';

const KAFKA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'kafka');
const POM = join(KAFKA_DIR, 'pom.xml');
export const LOG4J_CONFIG = join(KAFKA_DIR, 'log4j2.properties');
/** Kafka 4 brokers need Java 17 or newer. */
const MIN_JAVA = 17;

/** Apache Kafka's jars on this machine, ready to run with `java -cp`. */
export interface KafkaInstallation {
  readonly version: string;
  /** The jars, in a fixed order (a class-data archive only applies to the class path it was made with). */
  readonly classpath: string;
  /** Where this installation lives; class-data archives are kept beside the jars. */
  readonly dir: string;
}

/** The Kafka version scripts/stack/kafka/pom.xml pins. */
export function pinnedKafkaVersion(): string {
  const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(POM, 'utf8'))?.[1];
  if (!version) throw new Error(`${POM} does not set <kafka.version>`);
  return version;
}

/** Shared by every checkout and state directory of this user, so a second start downloads nothing. */
export function defaultKafkaCacheDir(): string {
  return join(homedir(), '.cache', 'segstream');
}

function javaMajorVersion(): number | undefined {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${result.stderr}${result.stdout}`);
  if (!match) return undefined;
  // Java 8 and older report "1.8.0_..."
  return match[1] === '1' ? Number(match[2]) : Number(match[1]);
}

/** Java (17 or newer) and Maven from Debian's packages when they are missing. */
export function ensureJavaAndMaven(): void {
  ensureDebianPackages('Java (to run Kafka)', ['openjdk-17-jre-headless'], () => commandExists('java'));
  const major = javaMajorVersion();
  if (major === undefined || major < MIN_JAVA) {
    throw new Error(
      `Kafka ${pinnedKafkaVersion()} needs Java ${MIN_JAVA} or newer; "java -version" reports ${major ?? 'no version'}. Install it, e.g. apt-get install -y openjdk-17-jre-headless, and put it first on PATH`,
    );
  }
  ensureDebianPackages('Maven (to fetch Kafka from Maven Central)', ['maven'], () => commandExists('mvn'));
}

function jarClasspath(libDir: string): string {
  return readdirSync(libDir)
    .filter((f) => f.endsWith('.jar'))
    .sort()
    .map((f) => join(libDir, f))
    .join(':');
}

/**
 * Makes sure the pinned Kafka's jars are in the cache (Maven fetches them into ~/.m2 the
 * first time and copies them here), installing Java and Maven first when missing.
 * Nothing is downloaded or run when the jars are there already.
 */
export function ensureKafkaInstalled(cacheDir: string = defaultKafkaCacheDir()): KafkaInstallation {
  const version = pinnedKafkaVersion();
  // Keyed by the pom's content too: a changed dependency (log4j) is a new installation.
  const pomHash = createHash('sha256').update(readFileSync(POM)).digest('hex').slice(0, 10);
  const dir = join(cacheDir, `kafka-${version}-${pomHash}`);
  const libDir = join(dir, 'libs');
  if (existsSync(libDir)) return { version, classpath: jarClasspath(libDir), dir };

  ensureJavaAndMaven();
  mkdirSync(cacheDir, { recursive: true });
  // Built aside and renamed into place, so a run that stops half way leaves nothing that looks complete.
  const building = `${dir}.tmp-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  console.error(`[stack] fetching Apache Kafka ${version} from Maven Central (once; cached in ${dir}) ...`);
  const result = spawnSync(
    'mvn',
    ['-B', '-q', '-Dstyle.color=never', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${join(building, 'libs')}`, '-DincludeScope=runtime'],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) {
    rmSync(building, { recursive: true, force: true });
    const output = `${result.stdout}${result.stderr}`.trim().split('\n').slice(-20).join('\n');
    throw new Error(`fetching Kafka ${version} with Maven failed (exit code ${result.status}):\n${output}`);
  }
  writeFileSync(join(building, 'pom.xml'), readFileSync(POM));
  try {
    renameSync(building, dir);
  } catch (error) {
    // Another process installed the same version meanwhile: use theirs.
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(libDir)) throw error;
  }
  return { version, classpath: jarClasspath(libDir), dir };
}

/**
 * Where the class-data archive of this installation for the `java` on PATH lives: an
 * archive only fits the JVM build that made it, so a JVM upgrade gets a new one.
 */
export function classDataArchivePath(installation: KafkaInstallation): string | undefined {
  const located = spawnSync('sh', ['-c', 'command -v java'], { encoding: 'utf8' }).stdout.trim();
  if (!located) return undefined;
  const java = realpathSync(located);
  const { mtimeMs, size } = statSync(java);
  const key = createHash('sha256').update(`${java}\n${mtimeMs}\n${size}`).digest('hex').slice(0, 10);
  return join(installation.dir, `classes-${key}.jsa`);
}
