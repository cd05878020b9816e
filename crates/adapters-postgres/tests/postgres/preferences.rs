//! Preferences: none until set, then upserted.

use adapters_postgres::testing::TestDatabase;
use domain::ports::{UnitOfWork, UserRepository};
use domain::preferences::{Language, Preferences, Theme};

use crate::helpers::{insert, user};

#[tokio::test]
async fn preferences_are_none_until_put_and_then_replaced_by_each_put() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    assert_eq!(store.preferences(ann.id).await.unwrap(), None);

    let first = Preferences {
        theme: Theme::Dark,
        language: Language::parse("de-CH").unwrap(),
        notifications: false,
    };
    let mut tx = store.begin().await.unwrap();
    tx.put_preferences(ann.id, &first).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.preferences(ann.id).await.unwrap(), Some(first));

    let second = Preferences {
        theme: Theme::System,
        ..Preferences::default()
    };
    let mut tx = store.begin().await.unwrap();
    tx.put_preferences(ann.id, &second).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.preferences(ann.id).await.unwrap(), Some(second));
    assert_eq!(
        db.query_i64("SELECT count(*) AS n FROM user_preferences")
            .await,
        1
    );
}
