//! `users.v1.UserService` over the demo store.

use tonic::{Request, Response, Status};

use super::store::{self, DemoStore};
use super::{Violations, already_exists, bad_field, failed_precondition, not_found};
use crate::proto::users::v1::user_service_server::UserService;
use crate::proto::users::v1::{
    CreateUserRequest, CreateUserResponse, DeleteUserRequest, DeleteUserResponse, GetUserRequest,
    GetUserResponse, ListUsersRequest, ListUsersResponse, UpdateUserRequest, UpdateUserResponse,
    User, UserTier,
};

const RESOURCE: &str = "users.v1.User";
const DOMAIN: &str = "users.demo.gatehouse";
/// The fields an update may name (and that an empty mask updates).
const MUTABLE_FIELDS: [&str; 3] = ["email", "display_name", "tier"];
/// Fields of `User` that exist but are set by the server.
const READ_ONLY_FIELDS: [&str; 3] = ["user_id", "create_time", "login_count"];
const MAX_DISPLAY_NAME: usize = 100;

/// The demo `users.v1.UserService`.
///
/// Emails are unique (compared case-insensitively); a user who has orders cannot be deleted.
#[derive(Clone, Debug)]
pub struct UserBackend {
    store: DemoStore,
}

impl UserBackend {
    /// A service over `store`.
    pub fn new(store: DemoStore) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl UserService for UserBackend {
    async fn get_user(
        &self,
        request: Request<GetUserRequest>,
    ) -> Result<Response<GetUserResponse>, Status> {
        let user_id = request.into_inner().user_id;
        require_id(&user_id, "user_id")?;
        let user = self
            .store
            .user(&user_id)
            .ok_or_else(|| not_found(RESOURCE, &user_id))?;
        Ok(Response::new(GetUserResponse { user: Some(user) }))
    }

    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        let request = request.into_inner();
        let tables = self.store.lock();
        let page = store::page(
            &tables.users,
            |_| true,
            "users",
            request.page_size,
            &request.page_token,
        )?;
        Ok(Response::new(ListUsersResponse {
            users: page.items,
            next_page_token: page.next_page_token,
        }))
    }

    async fn create_user(
        &self,
        request: Request<CreateUserRequest>,
    ) -> Result<Response<CreateUserResponse>, Status> {
        let Some(mut user) = request.into_inner().user else {
            return Err(bad_field("user", "is required"));
        };
        if user.tier == UserTier::Unspecified as i32 {
            user.tier = UserTier::Free as i32;
        }
        let mut violations = Violations::default();
        for field in MUTABLE_FIELDS {
            validate_field(&user, field, &mut violations);
        }
        violations.check()?;

        let mut tables = self.store.lock();
        ensure_email_free(tables.users.values(), &user.email, None)?;
        user.user_id = tables.new_user_id();
        user.create_time = Some(store::now());
        user.login_count = 0;
        tables.users.insert(user.user_id.clone(), user.clone());
        Ok(Response::new(CreateUserResponse { user: Some(user) }))
    }

    async fn update_user(
        &self,
        request: Request<UpdateUserRequest>,
    ) -> Result<Response<UpdateUserResponse>, Status> {
        let request = request.into_inner();
        let Some(patch) = request.user else {
            return Err(bad_field("user", "is required"));
        };
        require_id(&patch.user_id, "user.user_id")?;
        let paths = request
            .update_mask
            .map(|mask| mask.paths)
            .unwrap_or_default();
        let paths: Vec<&str> = if paths.is_empty() {
            MUTABLE_FIELDS.to_vec()
        } else {
            paths.iter().map(String::as_str).collect()
        };

        let mut violations = Violations::default();
        for path in &paths {
            if MUTABLE_FIELDS.contains(path) {
                validate_field(&patch, path, &mut violations);
            } else if READ_ONLY_FIELDS.contains(path) {
                violations.add("update_mask", format!("field {path:?} cannot be updated"));
            } else {
                violations.add("update_mask", format!("unknown field {path:?}"));
            }
        }
        violations.check()?;

        let mut tables = self.store.lock();
        if !tables.users.contains_key(&patch.user_id) {
            return Err(not_found(RESOURCE, &patch.user_id));
        }
        if paths.contains(&"email") {
            ensure_email_free(tables.users.values(), &patch.email, Some(&patch.user_id))?;
        }
        let user = tables
            .users
            .get_mut(&patch.user_id)
            .ok_or_else(|| not_found(RESOURCE, &patch.user_id))?;
        for path in paths {
            match path {
                "email" => user.email.clone_from(&patch.email),
                "display_name" => user.display_name.clone_from(&patch.display_name),
                "tier" => user.tier = patch.tier,
                _ => {}
            }
        }
        Ok(Response::new(UpdateUserResponse {
            user: Some(user.clone()),
        }))
    }

    async fn delete_user(
        &self,
        request: Request<DeleteUserRequest>,
    ) -> Result<Response<DeleteUserResponse>, Status> {
        let user_id = request.into_inner().user_id;
        require_id(&user_id, "user_id")?;
        let mut tables = self.store.lock();
        if !tables.users.contains_key(&user_id) {
            return Err(not_found(RESOURCE, &user_id));
        }
        if tables.orders.values().any(|order| order.user_id == user_id) {
            return Err(failed_precondition(
                format!("user {user_id:?} has orders and cannot be deleted"),
                "HAS_ORDERS",
                &format!("users/{user_id}"),
            ));
        }
        tables.users.remove(&user_id);
        Ok(Response::new(DeleteUserResponse {}))
    }
}

/// INVALID_ARGUMENT unless `id` is set.
fn require_id(id: &str, field: &str) -> Result<(), Status> {
    if id.is_empty() {
        Err(bad_field(field, "is required"))
    } else {
        Ok(())
    }
}

/// Checks the new value of one mutable field of `user`.
fn validate_field(user: &User, field: &str, violations: &mut Violations) {
    match field {
        "email" => {
            let valid = user.email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
            }) && !user.email.chars().any(char::is_whitespace);
            if !valid {
                violations.add(
                    "user.email",
                    "must be an email address such as a@example.com",
                );
            }
        }
        "display_name" => {
            let name = user.display_name.trim();
            if name.is_empty() {
                violations.add("user.display_name", "is required");
            } else if name.chars().count() > MAX_DISPLAY_NAME {
                violations.add(
                    "user.display_name",
                    format!("must be at most {MAX_DISPLAY_NAME} characters"),
                );
            }
        }
        "tier" => match UserTier::try_from(user.tier) {
            Ok(UserTier::Unspecified) => violations.add("user.tier", "is required"),
            Ok(_) => {}
            Err(_) => violations.add("user.tier", format!("unknown tier {}", user.tier)),
        },
        _ => {}
    }
}

/// ALREADY_EXISTS if a user other than `except` has `email`.
fn ensure_email_free<'a>(
    mut users: impl Iterator<Item = &'a User>,
    email: &str,
    except: Option<&str>,
) -> Result<(), Status> {
    let taken = users
        .any(|u| u.email.eq_ignore_ascii_case(email) && except.is_none_or(|id| id != u.user_id));
    if taken {
        Err(already_exists(
            format!("email {email:?} is already in use"),
            "EMAIL_TAKEN",
            DOMAIN,
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::wkt::FieldMask;
    use tonic::Code;

    use super::*;

    fn backend() -> UserBackend {
        UserBackend::new(DemoStore::seeded())
    }

    fn update(user: User, paths: &[&str]) -> Request<UpdateUserRequest> {
        Request::new(UpdateUserRequest {
            user: Some(user),
            update_mask: Some(FieldMask {
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            }),
        })
    }

    #[tokio::test]
    async fn get_seed_user() {
        let request = Request::new(GetUserRequest {
            user_id: "123".into(),
        });
        let user = backend().get_user(request).await.expect("found");
        assert_eq!(
            user.into_inner().user.expect("user").display_name,
            "Ada Lovelace"
        );
    }

    #[tokio::test]
    async fn update_touches_only_masked_fields() {
        let backend = backend();
        let patch = User {
            user_id: "123".into(),
            display_name: "Countess Lovelace".into(),
            email: "ignored@example.com".into(),
            ..Default::default()
        };
        let updated = backend
            .update_user(update(patch, &["display_name"]))
            .await
            .expect("updated")
            .into_inner()
            .user
            .expect("user");
        assert_eq!(updated.display_name, "Countess Lovelace");
        assert_eq!(updated.email, "ada@example.com");
        assert_eq!(updated.tier, UserTier::Pro as i32);
    }

    #[tokio::test]
    async fn unknown_or_read_only_mask_path_is_invalid() {
        for path in ["nickname", "create_time", "displayName"] {
            let patch = User {
                user_id: "123".into(),
                ..Default::default()
            };
            let err = backend()
                .update_user(update(patch, &[path]))
                .await
                .expect_err(path);
            assert_eq!(err.code(), Code::InvalidArgument, "{path}");
            assert!(!err.details().is_empty(), "BadRequest details expected");
        }
    }

    #[tokio::test]
    async fn duplicate_email_already_exists() {
        let request = Request::new(CreateUserRequest {
            user: Some(User {
                email: "GRACE@example.com".into(),
                display_name: "Imposter".into(),
                ..Default::default()
            }),
        });
        let err = backend().create_user(request).await.expect_err("duplicate");
        assert_eq!(err.code(), Code::AlreadyExists);
    }

    #[tokio::test]
    async fn create_assigns_id_and_defaults() {
        let backend = backend();
        let request = Request::new(CreateUserRequest {
            user: Some(User {
                email: "barbara@example.com".into(),
                display_name: "Barbara Liskov".into(),
                user_id: "chosen-by-client".into(),
                ..Default::default()
            }),
        });
        let user = backend.create_user(request).await.expect("created");
        let user = user.into_inner().user.expect("user");
        assert_eq!(user.user_id, "127");
        assert_eq!(user.tier, UserTier::Free as i32);
        assert!(user.create_time.is_some());
        assert!(backend.store.user("127").is_some());
    }

    #[tokio::test]
    async fn delete_refuses_users_with_orders() {
        let backend = backend();
        let delete = |id: &str| {
            Request::new(DeleteUserRequest {
                user_id: id.to_owned(),
            })
        };
        let err = backend
            .delete_user(delete("123"))
            .await
            .expect_err("orders");
        assert_eq!(err.code(), Code::FailedPrecondition);
        backend.delete_user(delete("126")).await.expect("deleted");
        let err = backend.delete_user(delete("126")).await.expect_err("gone");
        assert_eq!(err.code(), Code::NotFound);
    }

    #[tokio::test]
    async fn list_pages_through_all_users() {
        let backend = backend();
        let first = backend
            .list_users(Request::new(ListUsersRequest {
                page_size: 3,
                page_token: String::new(),
            }))
            .await
            .expect("page 1")
            .into_inner();
        assert_eq!(first.users.len(), 3);
        let second = backend
            .list_users(Request::new(ListUsersRequest {
                page_size: 3,
                page_token: first.next_page_token,
            }))
            .await
            .expect("page 2")
            .into_inner();
        let ids: Vec<_> = second.users.iter().map(|u| u.user_id.as_str()).collect();
        assert_eq!(ids, ["126"]);
        assert!(second.next_page_token.is_empty());
    }
}
