//! The README's configuration table and docker-compose.yml name exactly the variables the code reads.

use std::collections::BTreeSet;

use kyodo::config::Config;
use yaml_rust2::YamlLoader;

fn read(file: &str) -> String {
    std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn the_readme_documents_every_variable_and_no_other() {
    let readme = read("README.md");
    let section = readme
        .split("## Configuration")
        .nth(1)
        .expect("a Configuration section")
        .split("\n## ")
        .next()
        .unwrap();
    let documented: BTreeSet<String> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect();
    let read_by_code: BTreeSet<String> = Config::environment_variables().into_iter().collect();
    assert_eq!(documented, read_by_code);
}

#[test]
fn docker_compose_sets_only_variables_the_service_reads() {
    let compose = YamlLoader::load_from_str(&read("docker-compose.yml")).unwrap();
    let service = &compose[0]["services"]["app"];
    let environment = service["environment"]
        .as_hash()
        .expect("services.app.environment is a map");
    let known: BTreeSet<String> = Config::environment_variables().into_iter().collect();
    let set: BTreeSet<String> = environment
        .keys()
        .filter_map(|k| k.as_str())
        .map(str::to_owned)
        .collect();
    let unknown: Vec<_> = set.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "docker-compose.yml sets variables the service does not read: {unknown:?}"
    );
    for required in ["DATABASE_URL", "JWT_SECRET", "BIND_ADDRESS"] {
        assert!(
            set.contains(required),
            "docker-compose.yml must set {required}"
        );
    }
    assert!(
        environment
            .get(&yaml_rust2::Yaml::String("DATABASE_URL".into()))
            .and_then(|v| v.as_str())
            .unwrap()
            .starts_with("postgres://")
    );
    let db = &service["depends_on"]["db"]["condition"];
    assert_eq!(db.as_str(), Some("service_healthy"));
    assert!(!compose[0]["services"]["db"]["healthcheck"].is_badvalue());
    assert!(!compose[0]["services"]["mailpit"].is_badvalue());
}
