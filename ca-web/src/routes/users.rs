//! The users page for administrators: add a user, disable or enable one, reset a password
//! (typed, or made here and shown once), change a role, remove one (after a page that asks).
//! Each form calls the ca-core operation `ca user` calls, and the audit trail names the
//! administrator who posted it. Every signed-in user changes their own password on a page of
//! their own.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use ca_core::Choice;
use ca_core::users::{Password, Role};
use serde::Deserialize;

use super::Form;
use crate::auth::{AdminCaller, Caller};
use crate::error::WebError;
use crate::pages::{self, UserRow, full_stop, render};
use crate::state::AppState;

const USERS: &str = "/certsrv/admin/users";

pub(crate) async fn page(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    Ok(render(&users_page(&state, &caller, &admin.name).await?))
}

/// The users page as `admin` sees it, its add form empty.
async fn users_page(
    state: &AppState,
    caller: &Caller,
    admin: &str,
) -> Result<pages::Users, WebError> {
    let users = state.authority.users().await?;
    Ok(pages::Users {
        chrome: caller.chrome(state),
        roles: Role::ALL.iter().map(|r| r.name()).collect(),
        users: users
            .into_iter()
            .map(|user| UserRow {
                yourself: user.name == admin,
                role: user.role.name(),
                disabled: user.disabled,
                created: ca_core::display::time(user.created_at),
                name: user.name,
            })
            .collect(),
        refusal: None,
        typed_name: String::new(),
        typed_role: Role::Requester.name().to_owned(),
    })
}

#[derive(Deserialize)]
pub(crate) struct AddForm {
    name: String,
    role: String,
    /// Empty: a random one, shown once.
    #[serde(default)]
    password: String,
}

pub(crate) async fn add(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Form(form): Form<AddForm>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let name = form.name.trim();
    // A refused form comes back with the name and role typed (never the password).
    let checked = ca_core::users::check_user_name(name)
        .and_then(|()| Role::from_name(&form.role))
        .and_then(|role| {
            if form.password.is_empty() {
                Ok((role, None))
            } else {
                Password::new(form.password).map(|typed| (role, Some(typed)))
            }
        });
    let refused = |err: ca_core::Error, status| Refused {
        why: crate::error::explain(&err),
        status,
        name: name.to_owned(),
        role: form.role.trim().to_owned(),
    };
    let (role, typed) = match checked {
        Ok(checked) => checked,
        Err(err) => {
            return refused(err, StatusCode::BAD_REQUEST)
                .page(&state, &caller, &admin.name)
                .await;
        }
    };
    let (password, made) = match typed {
        Some(typed) => (typed, false),
        None => (Password::random()?, true),
    };
    match state
        .authority
        .add_user(name, role, &password, &admin.name)
        .await
    {
        Ok(()) => {}
        Err(err @ (ca_core::Error::UserExists(_) | ca_core::Error::Conflict(_))) => {
            return refused(err, StatusCode::CONFLICT)
                .page(&state, &caller, &admin.name)
                .await;
        }
        Err(err) => return Err(err.into()),
    }
    let done = format!("Added the user {name} ({role}).");
    Ok(done_page(
        &state,
        &caller,
        name,
        done,
        made.then_some(password),
    ))
}

/// An add form refused: why, and what was typed (never the password).
struct Refused {
    why: String,
    status: StatusCode,
    name: String,
    role: String,
}

impl Refused {
    /// The users page with the refusal above the add form, filled as it was sent.
    async fn page(
        self,
        state: &AppState,
        caller: &Caller,
        admin: &str,
    ) -> Result<Response, WebError> {
        let mut page = users_page(state, caller, admin).await?;
        page.refusal = Some(full_stop(self.why));
        page.typed_name = self.name;
        page.typed_role = self.role;
        let mut response = render(&page);
        *response.status_mut() = self.status;
        Ok(response)
    }
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    name: String,
    #[serde(default)]
    password: String,
}

pub(crate) async fn reset_password(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let (password, made) = password(form.password)?;
    state
        .authority
        .set_password(&form.name, &password, &admin.name)
        .await?;
    let done = format!("The password of {} is changed.", form.name);
    Ok(done_page(
        &state,
        &caller,
        &form.name,
        done,
        made.then_some(password),
    ))
}

#[derive(Deserialize)]
pub(crate) struct RoleForm {
    name: String,
    role: String,
}

pub(crate) async fn set_role(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Form(form): Form<RoleForm>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let role = Role::from_name(&form.role)?;
    state
        .authority
        .set_role(&form.name, role, &admin.name)
        .await?;
    Ok(Redirect::to(USERS).into_response())
}

#[derive(Deserialize)]
pub(crate) struct StateForm {
    name: String,
    /// `disable` or `enable`.
    state: String,
}

pub(crate) async fn set_state(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Form(form): Form<StateForm>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let disabled = match form.state.as_str() {
        "disable" => true,
        "enable" => false,
        other => {
            return Err(WebError::BadRequest(format!(
                "'{}' is not a state to set: disable or enable.",
                super::echoed(other)
            )));
        }
    };
    state
        .authority
        .set_disabled(&form.name, disabled, &admin.name)
        .await?;
    Ok(Redirect::to(USERS).into_response())
}

/// The password typed, or a new random one (and whether it was made here).
fn password(typed: String) -> Result<(Password, bool), WebError> {
    if typed.is_empty() {
        Ok((Password::random()?, true))
    } else {
        Ok((Password::new(typed)?, false))
    }
}

/// What was done, and the password made for it, shown only in this answer (which no cache
/// keeps: it answers a request with credentials).
fn done_page(
    state: &AppState,
    caller: &Caller,
    name: &str,
    done: String,
    made: Option<Password>,
) -> Response {
    render(&pages::UserDone {
        chrome: caller.chrome(state),
        name: name.to_owned(),
        done,
        password: made.map(|p| p.reveal().to_owned()),
    })
}

#[derive(Deserialize)]
pub(crate) struct NameForm {
    name: String,
}

/// The page that asks an administrator whether to remove a user, before the form that does.
pub(crate) async fn remove_page(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let params = super::Params::new(query)?;
    let name = params.get("name").unwrap_or_default().trim();
    if !state.authority.user_exists(name).await? {
        return Err(WebError::NotFound(format!(
            "There is no user {}.",
            super::echoed(name)
        )));
    }
    Ok(render(&pages::UserRemove {
        chrome: caller.chrome(&state),
        yourself: name == admin.name,
        name: name.to_owned(),
    }))
}

pub(crate) async fn remove(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Form(form): Form<NameForm>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    state.authority.remove_user(&form.name, &admin.name).await?;
    let done = format!(
        "Removed the user {}: they can no longer sign in, and what they requested stays in the log under their name.",
        form.name
    );
    Ok(done_page(&state, &caller, &form.name, done, None))
}

/// The form where a signed-in user changes their own password.
pub(crate) async fn own_password_page(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, WebError> {
    caller.user()?;
    Ok(render(&pages::OwnPassword {
        chrome: caller.chrome(&state),
        refusal: None,
        done: false,
    }))
}

#[derive(Deserialize)]
pub(crate) struct OwnPasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    again: String,
}

/// Changes the caller's password once they typed the present one (a browser left signed in
/// is not enough) and the new one twice; the audit trail names them as who changed it.
pub(crate) async fn change_own_password(
    State(state): State<AppState>,
    caller: Caller,
    peer: Option<axum::Extension<crate::auth::Peer>>,
    Form(form): Form<OwnPasswordForm>,
) -> Result<Response, WebError> {
    let user = caller.user()?;
    let refused = |why: String, status: StatusCode| {
        let mut response = render(&pages::OwnPassword {
            chrome: caller.chrome(&state),
            refusal: Some(full_stop(why)),
            done: false,
        });
        *response.status_mut() = status;
        Ok(response)
    };
    if form.new != form.again {
        return refused(
            "the two new passwords differ".into(),
            StatusCode::BAD_REQUEST,
        );
    }
    if form.new == form.current {
        return refused(
            "the new password is the present one".into(),
            StatusCode::BAD_REQUEST,
        );
    }
    let new = match Password::new(form.new) {
        Ok(new) => new,
        Err(err) => return refused(crate::error::explain(&err), StatusCode::BAD_REQUEST),
    };
    // Throttled as a sign-in is: whoever has the browser gets no more guesses than anyone.
    let peer = peer.map(|axum::Extension(peer)| peer);
    let confirmed = crate::auth::check_password(&state, peer, &user.name, &form.current)
        .await?
        .is_some_and(|found| found.generation == user.generation);
    if !confirmed {
        return refused(
            "the present password typed is not yours".into(),
            StatusCode::FORBIDDEN,
        );
    }
    state
        .authority
        .set_password(&user.name, &new, &user.name)
        .await?;
    Ok(render(&pages::OwnPassword {
        chrome: caller.chrome(&state),
        refusal: None,
        done: true,
    }))
}
