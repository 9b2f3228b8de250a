//! `load('ext://...')`: the default repository (overridden with `LILT_EXTENSIONS_REPO`),
//! git clones into the per-user cache reused offline, `v1alpha1.extension_repo` /
//! `v1alpha1.extension` overrides, `load_host`, and popular extensions written as small
//! faithful copies of tilt-extensions' Tiltfiles. Nothing here touches the network: the
//! repositories are directories and `git init` repositories in temp dirs.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Project, write_files};
use lilt_model::{ButtonAction, ButtonInputKind, ButtonLocation};

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

const HELLO: &str = "def hello(name):\n    local_resource('hello-' + name, cmd='echo ' + name)\n    return __file__\n";

#[test]
fn default_repo_from_a_directory() {
    let repo = tempfile::tempdir().expect("tempdir");
    write_files(repo.path(), &[("hello/Tiltfile", HELLO)]);
    let p = Project::with_env(
        &[(
            "Tiltfile",
            "load('ext://hello', 'hello')\nf = hello('x')\nprint(f)\n",
        )],
        &[("LILT_EXTENSIONS_REPO", &repo.path().display().to_string())],
    );
    let plan = p.plan();
    assert!(plan.manifest("hello-x").is_some());
    let ext_file = repo.path().join("hello/Tiltfile");
    assert!(
        plan.config_files.contains(&ext_file),
        "{:?}",
        plan.config_files
    );
    assert!(
        p.result()
            .log
            .iter()
            .any(|l| l.text == ext_file.display().to_string())
    );
    let kinds: Vec<(&str, &str)> = plan
        .api_objects
        .iter()
        .map(|o| (o.kind.as_str(), o.name.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [("Extension", "hello"), ("ExtensionRepo", "default")]
    );
}

#[test]
fn git_repos_are_cloned_into_the_cache_and_reused_offline() {
    let src = tempfile::tempdir().expect("tempdir");
    let repo = src.path().join("exts");
    write_files(&repo, &[("hello/Tiltfile", HELLO)]);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "v1"]);
    let url = format!("file://{}", repo.display());
    let tiltfile = "v1alpha1.extension_repo(name='default', url='https://github.com/tilt-dev/tilt-extensions')\nload('ext://hello', 'hello')\nhello('y')\n";
    let cache = tempfile::tempdir().expect("tempdir");
    let cache_dir = cache.path().display().to_string();
    let env = [
        ("LILT_EXTENSIONS_REPO", url.as_str()),
        ("XDG_CACHE_HOME", cache_dir.as_str()),
    ];
    let p = Project::with_env(&[("Tiltfile", tiltfile)], &env);
    assert!(p.plan().manifest("hello-y").is_some());
    let cloned = cache
        .path()
        .join("lilt/extensions")
        .join(repo.strip_prefix("/").expect("absolute"));
    assert!(
        cloned.join(".git").is_dir(),
        "no clone at {}",
        cloned.display()
    );

    // The source is gone: the cached clone still serves the load.
    std::fs::remove_dir_all(&repo).expect("remove source");
    let p = Project::with_env(&[("Tiltfile", tiltfile)], &env);
    assert!(p.plan().manifest("hello-y").is_some());
}

#[test]
fn an_unfetchable_repo_names_the_url_and_the_cache() {
    let cache = tempfile::tempdir().expect("tempdir");
    let cache_dir = cache.path().display().to_string();
    let p = Project::with_env(
        &[("Tiltfile", "load('ext://hello', 'hello')\n")],
        &[
            (
                "LILT_EXTENSIONS_REPO",
                "file:///nonexistent/lilt-test/repo.git",
            ),
            ("XDG_CACHE_HOME", &cache_dir),
        ],
    );
    let err = p.error();
    assert!(err.contains("cannot load ext://hello"), "{err}");
    assert!(
        err.contains("file:///nonexistent/lilt-test/repo.git"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{cache_dir}/lilt/extensions/nonexistent/lilt-test/repo"
        )),
        "{err}"
    );
}

#[test]
fn repo_and_extension_overrides_and_load_host() {
    let repo = tempfile::tempdir().expect("tempdir");
    write_files(
        repo.path(),
        &[
            (
                "sub/elsewhere/Tiltfile",
                "def a():\n    local_resource('a', cmd='true')\n",
            ),
            (
                "sub/team/b/Tiltfile",
                "load('ext://mine', 'a')\ndef b():\n    a()\n    local_resource('b', cmd='true')\n",
            ),
        ],
    );
    let url = format!("file://{}", repo.path().display());
    let tiltfile = format!(
        "v1alpha1.extension_repo(name='mine', url='{url}', git_subpath='sub', load_host='corp')\n\
         v1alpha1.extension(name='mine', repo_name='mine', repo_path='elsewhere')\n\
         load('ext://corp/team/b', 'b')\n\
         b()\n"
    );
    let p = Project::new(&[("Tiltfile", &tiltfile)]);
    let plan = p.plan();
    assert!(plan.manifest("a").is_some() && plan.manifest("b").is_some());
    assert!(
        plan.api_objects
            .iter()
            .any(|o| o.kind == "Extension" && o.name == "corp_team_b")
    );

    let bad = Project::new(&[(
        "Tiltfile",
        "v1alpha1.extension_repo(name='x', url='ftp://example.com/r')\n",
    )]);
    assert!(
        bad.error()
            .contains("URLs must start with http(s):// or file://"),
        "{}",
        bad.error()
    );
    let missing = Project::new(&[(
        "Tiltfile",
        &format!("v1alpha1.extension_repo(name='default', url='{url}')\nload('ext://nope', 'x')\n"),
    )]);
    assert!(
        missing.error().contains("no extension tiltfile found at"),
        "{}",
        missing.error()
    );
}

/// tilt-extensions' `uibutton`, reduced to the calls that matter.
const UIBUTTON: &str = r#"
location = struct(RESOURCE='resource', NAV='nav')

def text_input(name, label='', default='', placeholder=''):
    return v1alpha1.ui_input_spec(name=name, label=label, text=v1alpha1.ui_text_input_spec(default_value=default, placeholder=placeholder))

def bool_input(name, label='', default=False, true_string=None, false_string=None):
    return v1alpha1.ui_input_spec(name=name, label=label, bool=v1alpha1.ui_bool_input_spec(default_value=default, true_string=true_string, false_string=false_string))

def choice_input(name, label='', choices=[]):
    return v1alpha1.ui_input_spec(name=name, label=label, choice=v1alpha1.ui_choice_input_spec(choices=choices))

def cmd_button(name, resource='', argv=[], text=None, location=location.RESOURCE, icon_name=None, icon_svg=None, inputs=[], env=[], requires_confirmation=False, dir=None):
    if location == 'resource':
        component_type = 'Resource'
        component_id = resource
    else:
        component_type = 'Global'
        component_id = 'nav'
    if dir == None:
        dir = config.main_dir
    v1alpha1.ui_button(
        name=name,
        location=v1alpha1.ui_component_location(component_id=component_id, component_type=component_type),
        text=text or name,
        icon_name=icon_name,
        icon_svg=icon_svg,
        inputs=inputs,
        requires_confirmation=requires_confirmation)
    v1alpha1.cmd(
        name=name,
        args=argv,
        dir=dir,
        env=env,
        start_on=v1alpha1.start_on_spec(ui_buttons=[name]))
"#;

const DOTENV: &str = r#"
def dotenv(fn='.env', showValues=False, verbose=False):
    if not os.path.exists(fn):
        warn('dotenv: file %s not found' % fn)
        return
    f = read_file(fn)
    for line in str(f).splitlines():
        line = line.strip()
        if line == '' or line.startswith('#'):
            continue
        v = line.split('=', 1)
        if len(v) != 2:
            continue
        os.putenv(v[0].strip(), v[1].strip())
"#;

const LOCAL_OUTPUT: &str = r#"
def local_output(command, **kwargs):
    return str(local(command, quiet=True, **kwargs)).rstrip('\n')
"#;

const RESTART_PROCESS: &str = r#"
RESTART_FILE = '/tmp/.restart-proc'
TYPE_RESTART_CONTAINER_STEP = 'live_update_restart_container_step'

def docker_build_with_restart(ref, context, entrypoint, live_update=[], base_suffix='-tilt_docker_build_with_restart_base', restart_file=RESTART_FILE, trigger=None, exit_policy='restart', **kwargs):
    if type(entrypoint) == type(''):
        entrypoint = ['sh', '-c', entrypoint]
    if type(entrypoint) != type([]):
        fail('`docker_build_with_restart`: `entrypoint` must be a string or list of strings')
    base_ref = '%s%s' % (ref, base_suffix)
    docker_build(base_ref, context, **kwargs)
    dockerfile_contents = '\n'.join([
        'FROM tiltdev/restart-helper:2021-11-03 as restart-helper',
        'FROM %s' % base_ref,
        'RUN ["touch", "%s"]' % restart_file,
        'COPY --from=restart-helper /tilt-restart-wrapper /',
        'COPY --from=restart-helper /entr /',
    ])
    entrypoint_with_entr = ['/tilt-restart-wrapper', '--watch_file={}'.format(restart_file)] + entrypoint
    live_update = live_update + [run('date > {}'.format(restart_file))]
    docker_build(ref, context, entrypoint=entrypoint_with_entr, dockerfile_contents=dockerfile_contents, live_update=live_update)
"#;

fn popular_repo() -> tempfile::TempDir {
    let repo = tempfile::tempdir().expect("tempdir");
    write_files(
        repo.path(),
        &[
            ("uibutton/Tiltfile", UIBUTTON),
            ("dotenv/Tiltfile", DOTENV),
            ("local_output/Tiltfile", LOCAL_OUTPUT),
            ("restart_process/Tiltfile", RESTART_PROCESS),
        ],
    );
    repo
}

#[test]
fn uibutton_cmd_button_becomes_a_dashboard_button() {
    let repo = popular_repo();
    let tiltfile = "load('ext://uibutton', 'cmd_button', 'text_input', 'bool_input', 'choice_input', 'location')\n\
        local_resource('app', cmd='true')\n\
        cmd_button('seed', resource='app', argv=['sh', '-c', 'echo $NAME'], text='Seed DB', inputs=[text_input('NAME', default='x'), bool_input('FORCE'), choice_input('ENV', choices=['a', 'b'])], requires_confirmation=True)\n\
        cmd_button('nav-btn', argv=['true'], location=location.NAV, icon_name='star')\n";
    let p = Project::with_env(
        &[("Tiltfile", tiltfile)],
        &[("LILT_EXTENSIONS_REPO", &repo.path().display().to_string())],
    );
    let plan = p.plan();
    assert_eq!(plan.buttons.len(), 2);
    let seed = &plan.buttons[0];
    assert_eq!(seed.name, "seed");
    assert_eq!(seed.location, ButtonLocation::Resource("app".to_owned()));
    assert_eq!(seed.text, "Seed DB");
    assert!(seed.requires_confirmation);
    assert_eq!(seed.inputs.len(), 3);
    assert_eq!(
        seed.inputs[0].kind,
        ButtonInputKind::Text {
            default_value: "x".to_owned(),
            placeholder: String::new()
        }
    );
    assert!(matches!(
        seed.inputs[1].kind,
        ButtonInputKind::Bool {
            default_value: false,
            ..
        }
    ));
    assert_eq!(
        seed.inputs[2].kind,
        ButtonInputKind::Choice {
            choices: vec!["a".to_owned(), "b".to_owned()]
        }
    );
    match &seed.action {
        ButtonAction::Cmd(cmd) => {
            assert_eq!(cmd.argv, ["sh", "-c", "echo $NAME"]);
            assert_eq!(cmd.dir, p.root());
        }
        other => panic!("expected a command, got {other:?}"),
    }
    assert_eq!(plan.buttons[1].location, ButtonLocation::Global);
    assert_eq!(plan.buttons[1].icon_name, "star");
    assert!(
        plan.api_objects
            .iter()
            .any(|o| o.kind == "Cmd" && o.name == "seed")
    );
}

#[test]
fn dotenv_local_output_and_restart_process_evaluate() {
    let repo = popular_repo();
    let tiltfile = "load('ext://dotenv', 'dotenv')\n\
        load('ext://local_output', 'local_output')\n\
        load('ext://restart_process', 'docker_build_with_restart')\n\
        dotenv()\n\
        v = local_output('echo $GREETING')\n\
        local_resource('greet', cmd='echo ' + v)\n\
        docker_build_with_restart('app-image', '.', entrypoint='/app', live_update=[sync('.', '/src')])\n";
    let p = Project::with_env(
        &[
            ("Tiltfile", tiltfile),
            (".env", "GREETING=hi-there\n# comment\n"),
            ("Dockerfile", "FROM alpine\n"),
        ],
        &[("LILT_EXTENSIONS_REPO", &repo.path().display().to_string())],
    );
    let result = p.result();
    let plan = p.plan();
    assert_eq!(
        result.env_changes.get("GREETING"),
        Some(&Some("hi-there".to_owned()))
    );
    let greet = plan.manifest("greet").expect("greet");
    match &greet.deploy {
        lilt_model::DeployTarget::Local(l) => {
            assert_eq!(l.update_cmd.as_ref().unwrap().argv[2], "echo hi-there")
        }
        other => panic!("{other:?}"),
    }
    let refs: Vec<&str> = plan.images.iter().map(|i| i.image_ref.as_str()).collect();
    assert_eq!(
        refs,
        ["app-image-tilt_docker_build_with_restart_base", "app-image"]
    );
    let app = &plan.images[1];
    assert_eq!(
        app.entrypoint[..2],
        ["/tilt-restart-wrapper", "--watch_file=/tmp/.restart-proc"]
    );
    assert_eq!(app.live_update.runs.len(), 1);
}
